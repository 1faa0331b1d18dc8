"""A Cortex-M4 cycle estimate for the hottest layers of a compiled face model: their exact instruction counts
(hil.bench.profile) times the cycles per instruction of their instruction mix, sampled under QEMU.

    python -m hil.bench.cycles --model m4 [--top 5] [--sample 500000] [--json]

Method (the README's "Cycles from instructions" section says why it is defensible and where it is not):
1. The profiling build runs one test image under QEMU with -d in_asm,exec,nochain and -dfilter restricted to the
   functions of the layer's kernels (by source file, from the ELF's symbols and line info) and the profile hook.
   in_asm gives each translated block's instructions, exec each executed block, in order; the hook's entry marks
   the layer boundaries, so only blocks that run inside the layer are counted.
2. Each executed instruction is weighted by the Cortex-M4 TRM's timings (ARM DDI 0439, table 3-1): data processing,
   multiplies and MACs (MUL/MLA/SMLAD/SMULL/SMLAL...) 1 cycle; a load 2, or 1 right after another load or store
   (pipelined); a store 1; LDRD/STRD 3; LDM/STM/PUSH/POP 1 + registers; SDIV/UDIV 7 (2-12); a branch 1 when not
   taken and 1 + 2 (pipeline refill) when taken, taken read from the next executed block's address; IT 1.
3. The first --sample instructions of the layer give its cycles per instruction; the layer's estimate is that CPI
   times its exact instruction count. A layer repeats one patch or row computation, so its mix is stationary.
Not modelled: flash wait states (5 at 168 MHz). Code runs from the ART accelerator's instruction cache in these
loops; constant loads (weights, the gate tables) can miss its data cache, so the report also gives an upper bound
with 5 more cycles on every load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hil.errors import HilError

CORE_HZ = 168_000_000
BRANCH_REFILL = 2  # the TRM's P, 1..3 cycles
FLASH_WAIT_STATES = 5
DIVIDE_CYCLES = 7  # SDIV/UDIV take 2..12
# The source files whose functions a layer of each kind runs (model.c holds the fused MBConv driver).
KERNEL_FILES = {
    "rnnpool_offset_s8": ("rnnpool_layer_s8.c", "rnnpool_s8.c", "fastgrnn_step_s16.c"),
    "rnnpool_s8": ("rnnpool_layer_s8.c", "rnnpool_s8.c", "fastgrnn_step_s16.c"),
    "mbconv": (
        "model.c",
        "pointwise_conv2d_s8.c",
        "depthwise_conv2d_s8.c",
        "add_s8.c",
        "conv2d_a16.c",
        "conv2d_a16_w16.c",
        "depthwise_conv2d_a16.c",
    ),
    "front": (
        "model.c",
        "conv2d_s8.c",
        "conv2d_s8_w16.c",
        "rnnpool_layer_s8.c",
        "rnnpool_s8.c",
        "fastgrnn_step_s16.c",
        "pointwise_conv2d_s8.c",
        "depthwise_conv2d_s8.c",
        "conv2d_a16.c",
        "conv2d_a16_w16.c",
        "depthwise_conv2d_a16.c",
    ),
    "l2norm_conv": ("model.c", "l2norm_s8.c", "conv2d_s8.c", "conv2d_a16.c"),
    "conv2d_s8": ("conv2d_s8.c",),
    "conv2d_a16": ("conv2d_a16.c",),
    "conv2d_a16_w16": ("conv2d_a16_w16.c",),
    "conv2d_s8_w16": ("conv2d_s8_w16.c",),
    "depthwise_conv2d_s8": ("depthwise_conv2d_s8.c",),
    "depthwise_conv2d_a16": ("depthwise_conv2d_a16.c",),
    "pointwise_conv2d_s8": ("pointwise_conv2d_s8.c",),
    "l2norm_s8": ("l2norm_s8.c",),
    "add_s8": ("add_s8.c",),
}
HOOK = "hil_profile_layer"
MULTIPLIES = re.compile(r"^(mul|mla|mls|smul|smla|smls|smua|smus|smmul|smmla|smmls|umul|umla|umaal|usad)")
CONDITIONS = ("eq", "ne", "cs", "cc", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le")


@dataclass(frozen=True)
class Instruction:
    address: int
    size: int
    mnemonic: str
    operands: str

    @property
    def base(self) -> str:
        """The mnemonic without width qualifier (.w/.n)."""
        return self.mnemonic.split(".")[0]


@dataclass
class Mix:
    """Instructions and cycles counted over a sample, by class."""

    instructions: int = 0
    cycles: int = 0
    loads: int = 0
    classes: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, cycles: int, loads: int) -> None:
        self.instructions += 1
        self.cycles += cycles
        self.loads += loads
        self.classes[kind] = self.classes.get(kind, 0) + 1


def _registers(operands: str) -> int:
    """Registers in an LDM/STM/PUSH/POP list such as {r4, r5, r6-r9, lr}."""
    inside = operands[operands.find("{") + 1 : operands.find("}")]
    count = 0
    for part in inside.split(","):
        bounds = re.findall(r"\d+", part)
        count += int(bounds[1]) - int(bounds[0]) + 1 if "-" in part and len(bounds) == 2 else 1
    return count


def _is_branch(ins: Instruction) -> bool:
    base = ins.base
    if base in ("b", "bl", "blx", "bx", "cbz", "cbnz", "tbb", "tbh"):
        return True
    if len(base) == 3 and base.startswith("b") and base[1:] in CONDITIONS:
        return True
    return ("pc" in ins.operands.split(",")[0] and base.startswith(("ldr", "mov"))) or (
        base == "pop" and "pc" in ins.operands
    )


def classify(ins: Instruction, after_memory: bool, taken: bool) -> tuple[str, int, int]:
    """(class, cycles, loads) of one executed instruction under the TRM timings of the module docstring."""
    base = ins.base
    if _is_branch(ins):
        extra = _registers(ins.operands) if base == "pop" else 0
        return ("branch taken", 1 + BRANCH_REFILL + extra, extra) if taken else ("branch not taken", 1, 0)
    if base in ("ldm", "ldmia", "ldmdb", "pop", "vldm", "vpop"):
        n = _registers(ins.operands)
        return "load", 1 + n, n
    if base in ("stm", "stmia", "stmdb", "push", "vstm", "vpush"):
        return "store", 1 + _registers(ins.operands), 0
    if base in ("ldrd", "strd"):
        return ("load", 3, 2) if base == "ldrd" else ("store", 3, 0)
    if base.startswith("ldr") or base == "vldr":
        return "load", 1 if after_memory else 2, 1
    if base.startswith("str") or base == "vstr":
        return "store", 1, 0
    if base in ("sdiv", "udiv"):
        return "divide", DIVIDE_CYCLES, 0
    if MULTIPLIES.match(base):
        return "multiply/MAC", 1, 0
    return "other", 1, 0


def _parse_instruction(line: str) -> Instruction | None:
    """One in_asm line, '0x00001d0c:  f8d9 a000  ldr.w    sl, [sb]'."""
    if not line.startswith("0x") or ":" not in line[:12]:
        return None
    address = int(line[2:10], 16)
    tokens = line[11:].split()
    halves = 0
    while halves < len(tokens) and re.fullmatch(r"[0-9a-f]{4}", tokens[halves]):
        halves += 1
    if halves == 0 or halves >= len(tokens):
        return None
    operands = " ".join(tokens[halves + 1 :])
    return Instruction(address, 2 * halves, tokens[halves], operands)


def elf_functions(elf: Path) -> list[tuple[int, int, str, str]]:
    """(address, size, name, source file name) of every function in the ELF (nm with line numbers)."""
    nm = shutil.which("arm-none-eabi-nm")
    if nm is None:
        raise HilError("arm-none-eabi-nm is not on PATH: install binutils-arm-none-eabi")
    out = subprocess.run([nm, "-S", "-l", "--defined-only", str(elf)], capture_output=True, text=True, check=True)
    functions = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("T", "t"):
            source = Path(parts[4].rsplit(":", 1)[0]).name if len(parts) > 4 else ""
            functions.append((int(parts[0], 16) & ~1, int(parts[1], 16), parts[3], source))
    return functions


def sample_layer(
    elf: Path, workdir: Path, layer: int, files: tuple[str, ...], sample: int, timeout: float = 900.0
) -> Mix:
    """The instruction mix and cycles of the first `sample` instructions that layer `layer` executes in the
    functions of `files`, from QEMU's in_asm/exec log of the profiling build in workdir (inputs already there)."""
    from hil.board_description import load_board
    from hil.targets.qemu import QEMU, find_qemu

    functions = elf_functions(elf)
    hook = [(a, s) for a, s, name, _ in functions if name == HOOK]
    ranges = [(a, s) for a, s, _, source in functions if source in files and s > 0] + hook
    if not hook or len(ranges) == len(hook):
        raise HilError(f"{elf}: no {HOOK} or no functions from {', '.join(files)} (built without -g?)")
    hook_start, hook_end = hook[0][0], hook[0][0] + hook[0][1]
    fifo = workdir / "qemu_trace.fifo"
    if fifo.exists():
        fifo.unlink()
    os.mkfifo(fifo)
    board = load_board("mps2-an386")
    command = [
        find_qemu(QEMU),
        *("-M", board.qemu_machine or "", "-nographic", "-monitor", "none", "-serial", "null"),
        *("-semihosting-config", "enable=on,target=native", "-kernel", str(elf), "-icount", "shift=0"),
        *("-d", "in_asm,exec,nochain", "-D", str(fifo)),
        *("-dfilter", ",".join(f"0x{a:x}+0x{s:x}" for a, s in ranges)),
    ]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mix = Mix()
    try:
        with open(fifo, errors="replace") as log:
            mix = _count(log, layer, hook_start, hook_end, sample)
    finally:
        process.kill()
        process.wait(timeout)
        fifo.unlink()
    if mix.instructions == 0:
        raise HilError(f"layer {layer}: no instructions of {', '.join(files)} were traced")
    return mix


def _count(log, layer: int, hook_start: int, hook_end: int, sample: int) -> Mix:
    """Streams the log: blocks bound to their first execution, markers counted, the layer's blocks weighted."""
    blocks: dict[str, list[Instruction]] = {}
    pending: list[Instruction] = []
    markers = 0
    mix = Mix()
    previous: list[Instruction] | None = None  # the last counted block, its closing branch not yet costed
    previous_memory = False
    for line in log:
        if line.startswith("0x"):
            ins = _parse_instruction(line)
            if ins is not None:
                pending.append(ins)
            continue
        if not line.startswith("Trace"):
            continue
        parts = line.split()
        host, pc = parts[2], int(parts[3][10:18], 16)
        if pending and pending[0].address == pc:
            blocks[host], pending = pending, []
        if pc == hook_start:
            markers += 1
            if markers > layer + 1:
                break
        inside = markers == layer + 1 and not hook_start <= pc < hook_end
        if previous is not None:
            last = previous[-1]
            kind, cycles, loads = classify(last, previous_memory, pc != last.address + last.size)
            mix.add(kind, cycles, loads)
            previous = None
        block = blocks.get(host)
        if not inside or block is None:
            continue
        memory = False
        for ins in block[:-1]:
            kind, cycles, loads = classify(ins, memory, False)
            mix.add(kind, cycles, loads)
            memory = kind in ("load", "store") and ins.base not in ("ldm", "stm", "push", "pop")
        previous, previous_memory = block, memory
        if mix.instructions >= sample:
            break
    return mix


def estimate(model: str, work: Path, top: int, sample: int) -> dict:
    """The profile of a registered face model and the cycle estimate of its `top` hottest layers."""
    from hil.bench.profile import compile_for_profile, profile_compiled

    compiled, x = compile_for_profile(model, work)
    profile = profile_compiled(compiled, x, work)
    elf = Path(profile["elf"])
    rows = []
    for layer in profile["layers"][:top]:
        files = KERNEL_FILES.get(layer["op"])
        if files is None:
            continue
        mix = sample_layer(elf, work / "run", layer["layer"], files, sample)
        cpi = mix.cycles / mix.instructions
        cycles = cpi * layer["instructions"]
        flash_bound = cycles + FLASH_WAIT_STATES * layer["instructions"] * mix.loads / mix.instructions
        rows.append(
            {
                **layer,
                "sampled_instructions": mix.instructions,
                "cycles_per_instruction": cpi,
                "cycles": round(cycles),
                "cycles_with_flash_misses": round(flash_bound),
                "ms_at_168_mhz": 1e3 * cycles / CORE_HZ,
                "mix": {k: v / mix.instructions for k, v in sorted(mix.classes.items())},
            }
        )
    return {
        "model": profile["model"],
        "instructions": profile["instructions"],
        "macs": profile["macs"],
        "instructions_per_mac": profile["instructions_per_mac"],
        "layers": rows,
    }


def _print(result: dict) -> None:
    print(
        f"{result['model']}: {result['instructions']:,} instructions, {result['instructions_per_mac']:.2f} per MAC; "
        "cycle estimate of the hottest layers (Cortex-M4 TRM timings on the sampled mix, zero-wait memory; "
        "bound: +5 wait states on every load)"
    )
    print(
        f"{'#':>3} {'name':<12} {'instructions':>13} {'IPM':>5} {'CPI':>5} {'cycles':>13} {'bound':>13} "
        f"{'ms@168MHz':>9}  mix (share of instructions)"
    )
    for r in result["layers"]:
        mix = ", ".join(f"{k} {v:.0%}" for k, v in r["mix"].items())
        print(
            f"{r['layer']:>3} {r['name'][:12]:<12} {r['instructions']:>13,} {r['instructions_per_mac']:>5.2f} "
            f"{r['cycles_per_instruction']:>5.2f} {r['cycles']:>13,} {r['cycles_with_flash_misses']:>13,} "
            f"{r['ms_at_168_mhz']:>9.1f}  {mix}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="m4 or qvga")
    parser.add_argument("--top", type=int, default=5, help="the N hottest layers (default 5)")
    parser.add_argument("--sample", type=int, default=500_000, help="instructions sampled per layer")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the build here (default: a temp folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.workdir is not None:
        result = estimate(args.model, args.workdir, args.top, args.sample)
    else:
        with tempfile.TemporaryDirectory(prefix="hil_cycles_") as work:
            result = estimate(args.model, Path(work), args.top, args.sample)
    print(json.dumps(result, indent=1)) if args.json else _print(result)


if __name__ == "__main__":
    main()
