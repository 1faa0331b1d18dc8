"""Compiles and links the firmware for a board and a model, out of tree under build/, reusing
a build whose inputs have not changed."""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile

from hil import __version__
from hil.board_description import BoardDescription
from hil.build.footprint import FootprintReport, read_footprint
from hil.build.object_cache import CompileFailure, compiled_objects
from hil.build.toolchain import Toolchain, arm_toolchain
from hil.errors import FirmwareBuildError, RegionOverflowError
from hil.model_sources import ModelSources
from hil.paths import FIRMWARE_DIR, WORK_DIR

DEFAULT_BUILD_ROOT = WORK_DIR / "firmware"
TRANSPORTS = ("uart", "semihosting", "rtt")
# What `--hil-transport auto` picks, per emulator (None: a board). Measured per-image times of the M4 face suite
# on QEMU (README, "The link"): semihosting 0.8-0.9 s, rtt 1.3-1.5 s, UART 4-7 s. A board runs UART: pyOCD
# rejects the semihosting build's SYS_EXIT_EXTENDED, and rtt through a probe (pyOCD or OpenOCD) has not been
# timed against UART on a real board yet; Renode runs UART.
FASTEST_TRANSPORT = {"qemu": "semihosting", "renode": "uart", None: "uart"}


def fastest_transport(emulate: str | None) -> str:
    """The transport `auto` means on this emulator (or a board, None)."""
    return FASTEST_TRANSPORT.get(emulate, "uart")


COMMON_SOURCES = (
    "runtime/startup_cortex_m4.c",
    "runtime/stack_monitor.c",
    "runtime/build_id.c",
    "app/crc32.c",
    "app/wire.c",
    "app/inference.c",
    "app/device_report.c",
    "app/fault.c",
)
TRANSPORT_SOURCES = {
    "uart": ("app/main_uart.c", "app/uart_session.c", "app/frame.c", "app/link_uart.c"),
    "semihosting": ("app/main_semihosting.c", "app/semihosting.c"),
    # The UART application with its byte stream in RAM rings that a probe or QEMU's gdbstub serves.
    "rtt": ("app/main_uart.c", "app/uart_session.c", "app/frame.c", "app/rtt.c"),
}
INCLUDE_DIRS = ("include", "runtime", "app", "kernels")
# newlib-nano and no OS: the specs also choose the C library's headers, so sources compile with them too.
SPECS = ("--specs=nano.specs", "--specs=nosys.specs")
WARNINGS = ("-Wall", "-Wextra", "-Werror", "-std=c99")
OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")
GCC_TIMEOUT_S = 300
# The stack reservation: the deepest stack measured (stack painting; test_cases/test_budgets.py reports it for every
# model and transport, and fails when it leaves less than STACK_MARGIN_BYTES free) plus that margin, which covers
# what a run may not reach: the fault handler's report (a 160-byte text and its frame on top of the faulting one)
# and interrupt frames (SysTick, 32-104 B with the FPU context). Measured on 2026-12-04 with the face models streamed
# (the link's receive path runs on top of the model's frames while the input streams in): 1,464 B for the QVGA and
# 1,344 B for the M4 over UART; read whole they took 1,064-1,072 B. On 2026-12-06 the M4 over UART read 1,444 B in
# three runs and 1,552 B in a fourth (an interrupt frame with the FPU context at the deepest call), over the 1,536 B
# that 2,560 B left under the margin: the reservation grew by 256 B so the worst measured still has the whole margin.
STACK_MARGIN_BYTES = 1024
STACK_BYTES = 2816
# What the applications put in .ccm_bss (main_uart.c: the frame receiver and the reply; main_semihosting.c: the
# report buffer; rtt.c: the frame buffers plus the RTT control block and its up and down rings of one frame each,
# 2060 B) and at most what else .data and .bss hold besides the arena: the figures `hil compile` estimates RAM with
# before anything is linked; test_budgets.py checks them against every linked image. The other static data is at
# most 84 B (the semihosting app's file handles of streamed inputs, 64 B, and the runtime's words).
LINK_BUFFER_BYTES = {"uart": 4116, "semihosting": 2048, "rtt": 8308}
OTHER_STATIC_BYTES = 128


def reserved_ram_bytes() -> int:
    """RAM and CCM the firmware reserves besides the arena with the largest transport built in: what a RAM budget
    leaves the arena is the budget less this."""
    return STACK_BYTES + max(LINK_BUFFER_BYTES.values()) + OTHER_STATIC_BYTES


@dataclass(frozen=True)
class BuildRequest:
    """Everything that decides the bytes of a firmware image."""

    board: BoardDescription
    model: ModelSources
    transport: str = "uart"
    baud: int | None = None
    stack_bytes: int = STACK_BYTES
    optimisation: str = "-O2"
    defines: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise FirmwareBuildError(f"transport '{self.transport}' is not one of {', '.join(TRANSPORTS)}")

    @property
    def uart_baud(self) -> int:
        return self.baud or self.board.baud


@dataclass(frozen=True)
class FirmwareImage:
    """A linked firmware image and what it was built from."""

    elf: Path
    board: str
    model_name: str
    model_hash: str
    transport: str
    build_id: str
    flags: tuple[str, ...]
    toolchain: str
    footprint: FootprintReport
    reused: bool

    def to_dict(self) -> dict:
        return {
            "elf": str(self.elf),
            "board": self.board,
            "model": self.model_name,
            "model_hash": self.model_hash,
            "transport": self.transport,
            "build_id": self.build_id,
            "flags": list(self.flags),
            "toolchain": self.toolchain,
            "reused": self.reused,
            "footprint": self.footprint.to_dict(),
        }


def read_build_id(elf_path: Path) -> str:
    """The GNU build ID of an ELF as hex, or '' when it has none."""
    with open(elf_path, "rb") as f:
        section = ELFFile(f).get_section_by_name(".note.gnu.build-id")
        if section is None:
            return ""
        for note in section.iter_notes():
            if note["n_type"] == "NT_GNU_BUILD_ID":
                return note["n_desc"]
    return ""


def read_board_name(elf_path: Path) -> str:
    """The board_name string linked into a firmware image, or '' when there is none."""
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        symbols = symtab.get_symbol_by_name("board_name") if symtab else None
        if not symbols:
            return ""
        address, size = symbols[0]["st_value"], symbols[0]["st_size"]
        for segment in elf.iter_segments():
            start = segment["p_vaddr"]
            if segment["p_type"] == "PT_LOAD" and start <= address < start + segment["p_filesz"]:
                data = segment.data()[address - start : address - start + size]
                return data.split(b"\0", 1)[0].decode(errors="replace")
    return ""


class FirmwareBuilder:
    """Builds firmware images with the cross compiler, one directory per (board, model, transport)."""

    def __init__(self, build_root: Path = DEFAULT_BUILD_ROOT, toolchain: Toolchain | None = None) -> None:
        self.build_root = build_root
        self._toolchain = toolchain

    @property
    def toolchain(self) -> Toolchain:
        if self._toolchain is None:
            self._toolchain = arm_toolchain()
        return self._toolchain

    def output_dir(self, request: BuildRequest) -> Path:
        model = request.model
        # The baud is in the name: a build at another rate must not overwrite the default image.
        link = f"{request.transport}-{request.uart_baud}" if request.transport == "uart" else request.transport
        return self.build_root / request.board.name / f"{model.name}-{model.hash[:8]}-{link}"

    def cpu_flags(self, board: BoardDescription) -> list[str]:
        return [f"-mcpu={board.cpu}", "-mthumb", "-mfloat-abi=hard", f"-mfpu={board.fpu}"]

    def compile_flags(self, request: BuildRequest, out_dir: Path) -> list[str]:
        includes = [f"-I{FIRMWARE_DIR / d}" for d in INCLUDE_DIRS]
        includes += [f"-I{request.board.directory}", f"-I{request.model.directory}", f"-I{out_dir}"]
        return [
            *self.cpu_flags(request.board),
            request.optimisation,
            "-g",
            "-ffunction-sections",
            "-fdata-sections",
            "-fno-math-errno",
            *WARNINGS,
            *(f"-D{d}" for d in request.defines),
            *includes,
        ]

    def link_flags(self, request: BuildRequest, out_dir: Path) -> list[str]:
        return [
            "-nostartfiles",
            *SPECS,
            "-Wl,--gc-sections",
            "-Wl,--build-id=sha1",
            f"-Wl,--defsym=HIL_STACK_SIZE={request.stack_bytes}",
            f"-Wl,-Map={out_dir / 'firmware.map'}",
            f"-L{FIRMWARE_DIR / 'runtime'}",
            f"-T{request.board.linker_script}",
        ]

    def sources(self, request: BuildRequest) -> list[Path]:
        names = (*COMMON_SOURCES, *TRANSPORT_SOURCES[request.transport])
        kernels = sorted((FIRMWARE_DIR / "kernels").glob("*.c"))
        return [FIRMWARE_DIR / n for n in names] + kernels + list(request.board.sources) + request.model.c_files

    def build_config(self, request: BuildRequest) -> str:
        """The generated header that tells the firmware how it was built."""
        summary = " ".join([*self.cpu_flags(request.board), request.optimisation, *(f"-D{d}" for d in request.defines)])
        return (
            "/* Generated by hil/build/firmware_builder.py for this build. Do not edit. */\n"
            "#ifndef HIL_BUILD_CONFIG_H\n#define HIL_BUILD_CONFIG_H\n"
            f'#define HIL_FIRMWARE_VERSION "{__version__}"\n'
            f'#define HIL_BUILD_FLAGS "{summary}"\n'
            f"#define HIL_UART_BAUD {request.uart_baud}u\n"
            f'#define HIL_TRANSPORTS "{request.transport}"\n'
            "#endif\n"
        )

    def _inputs_digest(self, request: BuildRequest, recipe: list[str], config: str) -> str:
        digest = hashlib.sha256()
        digest.update(json.dumps([self.toolchain.version, recipe, config]).encode())
        watched = [FIRMWARE_DIR / d for d in INCLUDE_DIRS] + [request.board.directory, request.model.directory]
        for directory in watched:
            for path in sorted(p for p in directory.rglob("*") if p.suffix in (".c", ".h", ".ld")):
                digest.update(str(path).encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()

    def build(self, request: BuildRequest) -> FirmwareImage:
        """Compiles and links, or reuses the image of an earlier build with the same inputs."""
        out_dir = self.output_dir(request)
        out_dir.mkdir(parents=True, exist_ok=True)
        elf = out_dir / "firmware.elf"
        compile_flags, link_flags = self.compile_flags(request, out_dir), self.link_flags(request, out_dir)
        sources = self.sources(request)
        config = self.build_config(request)
        # Workers of one run (pytest -n, a farm) build the same image at once; the lock keeps one from reading a
        # half-written header or ELF while another writes it.
        with open(out_dir / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            config_path = out_dir / "hil_build_config.h"
            if not config_path.exists() or config_path.read_text() != config:
                config_path.write_text(config)
            stamp = out_dir / "inputs.sha256"
            digest = self._inputs_digest(request, [*compile_flags, *link_flags, *map(str, sources)], config)
            reused = elf.is_file() and stamp.is_file() and stamp.read_text() == digest
            if not reused:
                stamp.unlink(missing_ok=True)
                objects = self._objects(request, [*compile_flags, *SPECS], sources, out_dir)
                link = [self.toolchain.gcc, *compile_flags, *link_flags, *map(str, objects), "-o", str(elf)]
                self._link(request, link, out_dir)
                stamp.write_text(digest)
        return FirmwareImage(
            elf=elf,
            board=request.board.name,
            model_name=request.model.name,
            model_hash=request.model.hash,
            transport=request.transport,
            build_id=read_build_id(elf),
            flags=tuple(compile_flags),
            toolchain=self.toolchain.version,
            footprint=read_footprint(elf, request.board),
            reused=reused,
        )

    def _objects(self, request: BuildRequest, flags: list[str], sources: list[Path], out_dir: Path) -> list[Path]:
        """Every source compiled (object_cache: the ones no earlier build compiled the same way)."""
        try:
            return compiled_objects(self.toolchain.gcc, self.toolchain.version, flags, sources, GCC_TIMEOUT_S)
        except CompileFailure as failure:
            (out_dir / "build.log").write_text(" ".join(failure.command) + "\n\n" + failure.output)
            raise self._failed(request, failure.output, out_dir) from None

    def _link(self, request: BuildRequest, command: list[str], out_dir: Path) -> None:
        result = subprocess.run(command, capture_output=True, text=True, timeout=GCC_TIMEOUT_S, check=False)
        (out_dir / "build.log").write_text(" ".join(command) + "\n\n" + result.stdout + result.stderr)
        if result.returncode == 0:
            return
        overflows = OVERFLOW.findall(result.stderr)
        if overflows:
            raise self._overflow_error(request, command, out_dir, overflows)
        raise self._failed(request, result.stderr.strip(), out_dir)

    def _failed(self, request: BuildRequest, said: str, out_dir: Path) -> FirmwareBuildError:
        return FirmwareBuildError(
            f"firmware for board '{request.board.name}' (model '{request.model.name}', {request.transport}) "
            f"did not build; {self.toolchain.gcc} said:\n{said}\n(full log: {out_dir / 'build.log'})"
        )

    def _overflow_error(
        self, request: BuildRequest, command: list[str], out_dir: Path, overflows: list[tuple[str, str]]
    ) -> RegionOverflowError:
        """Links once more keeping the oversized image, to name what fills the region."""
        oversized = out_dir / "oversized.elf"
        relink = [*command[:-2], "-Wl,--noinhibit-exec", "-o", str(oversized)]
        subprocess.run(relink, capture_output=True, text=True, timeout=GCC_TIMEOUT_S, check=False)
        footprint = read_footprint(oversized, request.board) if oversized.is_file() else None
        lines = [f"firmware for board '{request.board.name}' (model '{request.model.name}') does not fit:"]
        for region_name, excess in overflows:
            region = request.board.memory.get(region_name)
            limit = region.size if region else 0
            lines.append(
                f"  {region_name}: needs {limit + int(excess):,} B, limit {limit:,} B"
                + (f" at 0x{region.origin:08x}" if region else "")
                + f" (over by {int(excess):,} B)"
            )
            if footprint:
                biggest = [s for s in footprint.biggest_symbols if s.region == region_name][:5]
                lines += [f"    {s.size:>9,} B  {s.name}" for s in biggest]
        return RegionOverflowError("\n".join(lines))
