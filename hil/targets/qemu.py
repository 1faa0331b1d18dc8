"""QEMU targets: the firmware under qemu-system-arm with -icount shift=0 (1 instruction = 1 ns of
virtual time, so timings repeat exactly), reached over its UART on a local TCP port or through
semihosting files."""

from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from hil.board_description import BoardDescription
from hil.build.firmware_builder import read_board_name, read_build_id
from hil.build.toolchain import QEMU, QEMU_INSTALL_HINT
from hil.errors import LinkError, TargetError
from hil.link import messages as msg
from hil.link.device_link import InferenceOutcome
from hil.link.messages import DeviceInfo
from hil.targets.base import Target
from hil.targets.linked import LinkedTarget, connect_when_listening
from hil.targets.registry import TargetRequest, register_target

PORT_ATTEMPTS = 3
PR_SET_PDEATHSIG = 1
STDERR_TAIL_CHARS = 2000
RESTARTS = 2
EXIT_GRACE_S = 0.5
LOG = logging.getLogger(__name__)


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends it SIGTERM when the harness dies, however it dies
    (a CI timeout's SIGKILL included), so no emulator outlives the run that started it. The signal follows
    the thread that started the child: start emulators from a thread that lives as long as they should."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def find_qemu(executable: str = QEMU) -> str:
    path = shutil.which(executable)
    if path is None:
        raise TargetError(f"{executable} is not on PATH; install it with: {QEMU_INSTALL_HINT}")
    return path


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(port: int, timeout: float = 10.0) -> None:
    """Returns once something accepts connections on local port `port` (a connection is made and closed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TargetError(f"nothing listened on local port {port} within {timeout} s")


def check_elf_for_board(elf: Path, board: BoardDescription) -> None:
    """Refuses an image built for another board before QEMU runs it into the weeds."""
    if not elf.is_file():
        raise TargetError(f"no firmware image at {elf}: build it with `hil build --board {board.name}`")
    if not board.qemu_machine:
        raise TargetError(f"board '{board.name}' has no QEMU machine; its stand-in is the board to emulate")
    built_for = read_board_name(elf)
    if built_for != board.name:
        raise TargetError(
            f"{elf} was built for board '{built_for or 'unknown'}', but QEMU machine '{board.qemu_machine}' "
            f"runs firmware for '{board.name}': build it with `hil build --board {board.name}`"
        )


@dataclass(frozen=True)
class QemuExit:
    returncode: int | None
    stderr_tail: str


class QemuProcess:
    """One qemu-system-arm process, its output in a log file, killed on stop."""

    def __init__(
        self,
        board: BoardDescription,
        elf: Path,
        workdir: Path,
        serial: str,
        qemu: str = QEMU,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.command = [
            find_qemu(qemu),
            *("-M", board.qemu_machine or "", "-nographic", "-monitor", "none"),
            *("-semihosting-config", "enable=on,target=native", "-serial", serial),
            *("-kernel", str(elf.resolve()), "-icount", "shift=0"),
            *extra_args,
        ]
        self.workdir = workdir
        self.log_path = workdir / "qemu.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def poll(self) -> int | None:
        return self.process.poll() if self.process else None

    def exit_status(self, grace: float = EXIT_GRACE_S) -> int | None:
        """The exit status, waiting up to grace for one that is dying: a killed process closes its sockets
        (the host sees the link drop) before the kernel reports it exited."""
        if self.process is None:
            return None
        try:
            return self.process.wait(grace)
        except subprocess.TimeoutExpired:
            return None

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None when it was still running after timeout and had to be killed."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return None

    def kill(self) -> QemuExit:
        """Ends it at once: a frozen (stopped) process never acts on SIGTERM."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        return QemuExit(self.poll(), self.output_tail())

    def stop(self) -> QemuExit:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return QemuExit(self.poll(), self.output_tail())

    def output_tail(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-STDERR_TAIL_CHARS:].strip()


class QemuUartTarget(LinkedTarget):
    """The UART build under QEMU: a long-lived session over socket://127.0.0.1:PORT. An emulator that dies or
    stops answering is restarted (at most `restarts` times per failure, as a board is reset then reflashed), the
    inference retried, and the restart logged and warned about."""

    def __init__(
        self,
        board: BoardDescription,
        elf: Path,
        workdir: Path,
        *,
        qemu: str = QEMU,
        startup_timeout: float = 10.0,
        reply_timeout: float = 2.0,
        run_timeout: float = 120.0,
        attempts: int = 5,
        extra_args: tuple[str, ...] = (),
        restarts: int = RESTARTS,
    ) -> None:
        self.board = board
        self.elf = elf
        self.workdir = workdir
        self.qemu = qemu
        self.startup_timeout = startup_timeout
        self.reply_timeout = reply_timeout
        self.run_timeout = run_timeout
        self.attempts = attempts
        self.extra_args = extra_args
        self.restarts = restarts
        self.restart_log: list[str] = []
        self.process: QemuProcess | None = None
        self.info: DeviceInfo | None = None
        self.port_url = ""

    def start(self) -> DeviceInfo:
        check_elf_for_board(self.elf, self.board)
        for _ in range(PORT_ATTEMPTS):
            port = free_tcp_port()
            self.port_url = f"socket://127.0.0.1:{port}"
            self.process = QemuProcess(
                self.board,
                self.elf,
                self.workdir,
                f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
                self.qemu,
                self.extra_args,
            )
            self.process.start()
            process = self.process
            serial_port = connect_when_listening(
                self.port_url, self.board.baud, lambda p=process: p.poll() is None, self.startup_timeout
            )
            if serial_port is not None:
                break
            if process.poll() is None:
                self.stop()
                raise TargetError(
                    f"QEMU's UART at {self.port_url} did not accept a connection in {self.startup_timeout} s"
                )
            tail = self.process.stop().stderr_tail
            if "Address already in use" not in tail:
                raise TargetError(f"QEMU ({self.board.qemu_machine}) exited before its UART listened: {tail}")
        else:
            raise TargetError(f"QEMU found no free local TCP port for its UART in {PORT_ATTEMPTS} attempts")
        where = f"QEMU ({self.board.qemu_machine})"
        self.info = self._open_link(serial_port, self.port_url, where, self.reply_timeout, self.attempts)
        return self.info

    def output_log(self) -> Path | None:
        return self.process.log_path if self.process else None

    def _recover(self, inputs: list[bytes], first: LinkError) -> InferenceOutcome:
        """An emulator that exited or stopped answering: a fresh one on the same image, `restarts` times at most."""
        errors = [f"{first} ({self._exit_note()})"]
        for attempt in range(1, self.restarts + 1):
            state = self._state()
            note = f"QEMU ({self.board.qemu_machine}) {state}: restarted it ({attempt} of {self.restarts})"
            self.restart_log.append(note)
            LOG.warning("%s after: %s", note, first)
            warnings.warn(note, UserWarning, stacklevel=2)
            try:
                self._close_link()
                if self.process is not None:
                    self.process.kill()
                self.start()
                assert self.link is not None
                return self.link.infer(inputs, self.run_timeout)
            except (LinkError, TargetError) as e:
                errors.append(f"after restart {attempt}: {e}")
        raise TargetError(
            f"QEMU ({self.board.qemu_machine}) stopped answering and {self.restarts} restarts did not bring it back: "
            + "; ".join(errors)
        )

    def _state(self) -> str:
        code = self.process.exit_status() if self.process else None
        return "stopped answering while running" if code is None else f"exited with status {code}"

    def _context(self) -> str:
        return f"QEMU output: {self._exit_note()}"

    def _exit_note(self) -> str:
        if self.process is None:
            return "(not started)"
        code = self.process.exit_status()
        state = "still running" if code is None else f"exited with status {code}"
        return f"{state}; {self.process.output_tail() or '(no output)'}"

    def stop(self) -> QemuExit | None:
        self._close_link()
        return self.process.stop() if self.process else None


@register_target("qemu-uart")
def _qemu_uart(request: TargetRequest) -> QemuUartTarget:
    return QemuUartTarget(request.description, request.elf, request.workdir, run_timeout=request.run_timeout)


class QemuSemihostingTarget(Target):
    """The semihosting build under QEMU: one QEMU process per inference, files in workdir."""

    def __init__(
        self, board: BoardDescription, elf: Path, workdir: Path, *, qemu: str = QEMU, run_timeout: float = 120.0
    ) -> None:
        self.board = board
        self.elf = elf
        self.workdir = workdir
        self.qemu = qemu
        self.run_timeout = run_timeout
        self.info: DeviceInfo | None = None
        self.last_exit: QemuExit | None = None
        self._last_inputs: list[bytes] | None = None

    def _run(self, inputs: list[bytes]) -> int:
        for stale in self.workdir.glob("hil_*.bin"):
            stale.unlink()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for index, data in enumerate(inputs):
            (self.workdir / f"hil_input_{index}.bin").write_bytes(data)
        process = QemuProcess(self.board, self.elf, self.workdir, "null", self.qemu)
        process.start()
        code = process.wait(self.run_timeout)
        self.last_exit = QemuExit(code, process.output_tail())
        if code is None:
            raise TargetError(
                f"QEMU ({self.board.qemu_machine}) semihosting run passed its {self.run_timeout} s timeout and "
                f"was killed; output: {self._output_tail()}"
            )
        return code

    def _output_tail(self) -> str:
        return (self.last_exit.stderr_tail if self.last_exit else "") or "(none)"

    def _read(self, name: str) -> bytes:
        path = self.workdir / name
        if not path.is_file():
            raise TargetError(f"the semihosting run wrote no {name} in {self.workdir}")
        return path.read_bytes()

    def start(self) -> DeviceInfo:
        """Runs the firmware with no inputs, which makes it write its INFO and exit."""
        check_elf_for_board(self.elf, self.board)
        code = self._run([])
        if code != msg.ERR_NO_INPUT:
            raise TargetError(
                f"the semihosting firmware exited with {code} ({msg.ERROR_NAMES.get(code, '?')}) when asked for its "
                f"INFO, expected {msg.ERR_NO_INPUT} (NO_INPUT); output: {self._output_tail()}"
            )
        self.info = msg.parse_info(self._read("hil_info.bin"))
        expected = read_build_id(self.elf)
        if self.info.build_id != expected:
            raise TargetError(f"stale firmware: the image reports build {self.info.build_id}, {self.elf} is {expected}")
        return self.info

    def infer(self, inputs: list[bytes]) -> InferenceOutcome:
        self._last_inputs = inputs
        code = self._run(inputs)
        if code != msg.ERR_NONE:
            raise TargetError(
                f"the semihosting firmware exited with {code} ({msg.ERROR_NAMES.get(code, 'unknown')}); "
                f"output: {self._output_tail()}"
            )
        summary = msg.parse_result(self._read("hil_result.bin"))
        outputs = tuple(self._read(f"hil_output_{i}.bin") for i in range(len(summary.output_sizes)))
        for index, (data, size) in enumerate(zip(outputs, summary.output_sizes, strict=True)):
            if len(data) != size:
                raise TargetError(f"hil_output_{index}.bin holds {len(data)} bytes, the device reported {size}")
        return InferenceOutcome(summary, outputs)

    def rerun(self) -> msg.RunSummary:
        if self._last_inputs is None:
            raise TargetError("QemuSemihostingTarget.rerun needs an infer() before it")
        return self.infer(self._last_inputs).summary

    def stop(self) -> None:
        """Nothing runs between inferences."""


@register_target("qemu-semihosting")
def _qemu_semihosting(request: TargetRequest) -> QemuSemihostingTarget:
    return QemuSemihostingTarget(request.description, request.elf, request.workdir, run_timeout=request.run_timeout)
