"""OpenOcdProbeDriver: the board target's driver methods (hil.targets.pyocd_board.ProbeDriver) as one-shot
`openocd` runs, each command line built by hil.openocd.commands, and for the rtt transport one `openocd` that
stays with its Tcl port open. OpenOCD does not list probes, so the ST-LINKs are found by USB: each one's virtual
COM port carries the probe's serial number."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from serial.tools.list_ports import comports

from hil.errors import TargetError
from hil.link.memory_access import MemoryAccess
from hil.openocd.commands import (
    INSTALL_HINT,
    OPENOCD,
    explain_failure,
    openocd_command,
    parse_read_memory,
    program_commands,
    read_memory_commands,
    reset_commands,
    server_commands,
)
from hil.openocd.server import OpenOcdServer
from hil.openocd.tcl_memory import OpenOcdTclMemory
from hil.paths import WORK_DIR
from hil.targets.probe_selection import ProbeInfo, SerialPortInfo
from hil.targets.qemu import free_tcp_port

ST_VENDOR_ID = 0x0483
STLINK_PRODUCT_IDS = {0x3748: "ST-LINK/V2", 0x374B: "ST-LINK/V2-1", 0x374E: "STLINK-V3", 0x374F: "STLINK-V3"}
# A free port can be taken between choosing it and OpenOCD binding it (another worker): choose again.
SERVER_ATTEMPTS = 3


class OpenOcdProbeDriver:
    """Flash, reset and read a board's memory with Debian's `openocd` and the board's OpenOCD config."""

    def __init__(
        self,
        config: str,
        *,
        executable: str = OPENOCD,
        timeout: float = 120.0,
        list_ports: Callable[[], Iterable[SerialPortInfo]] = comports,
        log_dir: Path = WORK_DIR / "openocd",
    ) -> None:
        """
        Args:
            config: the board's OpenOCD config (board.toml `openocd_config`, e.g. board/st_nucleo_f4.cfg).
            executable: the openocd program.
            timeout: seconds one OpenOCD run may take (a flash of 2 MB over SWD at 4 MHz takes well under 60).
            list_ports: lists serial ports with their USB ids; default pyserial's comports.
            log_dir: where the rtt server's log goes (openocd-PORT.log).
        """
        self.config = config
        self.executable = executable
        self.timeout = timeout
        self.list_ports = list_ports
        self.log_dir = log_dir
        self.server: OpenOcdServer | None = None
        self._uid: str | None = None

    def list_probes(self) -> list[ProbeInfo]:
        """ST-LINKs, by the USB serial number of their virtual COM ports (their board is not known to OpenOCD)."""
        probes = {}
        for port in self.list_ports():
            vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
            if vid == ST_VENDOR_ID and pid in STLINK_PRODUCT_IDS and port.serial_number:
                name = STLINK_PRODUCT_IDS[pid]
                probes[port.serial_number] = ProbeInfo(port.serial_number, name, "STMicroelectronics", name)
        return list(probes.values())

    def open(self, unique_id: str, target: str) -> None:
        self._uid = unique_id

    def flash(self, elf: Path) -> None:
        self.run(program_commands(elf.resolve()), f"program {elf}")

    def read_memory(self, address: int, size: int) -> bytes:
        return parse_read_memory(self.run(read_memory_commands(address, size), f"read 0x{address:08x}"), size)

    def reset(self) -> None:
        self.run(reset_commands(), "reset the target")

    def rtt_memory(self) -> MemoryAccess:
        """The running core's memory through an OpenOCD that stays attached (started here, without a reset)."""
        if self.server is None or not self.server.running:
            self.server = self._start_server()
        return OpenOcdTclMemory(port=self.server.tcl_port, timeout=self.timeout)

    def _start_server(self) -> OpenOcdServer:
        taken = []
        for _ in range(SERVER_ATTEMPTS):
            port = free_tcp_port()
            argv = openocd_command([self.config], server_commands(), self._uid, self.executable, tcl_port=port)
            server = OpenOcdServer(argv, port, self.log_dir / f"openocd-{port}.log", self._uid)
            try:
                server.start()
                return server
            except TargetError as e:
                if "Address already in use" not in str(e):
                    raise
                taken.append(str(port))
        raise TargetError(f"OpenOCD found no free local Tcl port: {', '.join(taken)} were taken as it bound them")

    def stop_server(self) -> None:
        """Frees the probe for a one-shot run (OpenOCD opens it exclusively)."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def close(self) -> None:
        self.stop_server()
        self._uid = None

    def run(self, commands: Sequence[str], what: str) -> str:
        """Runs OpenOCD once with commands; its output (stdout and stderr: OpenOCD logs to stderr)."""
        self.stop_server()
        argv = openocd_command([self.config], commands, self._uid, self.executable)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except FileNotFoundError as e:
            raise TargetError(f"{self.executable} is not installed: {INSTALL_HINT}") from e
        except subprocess.TimeoutExpired as e:
            raise TargetError(f"OpenOCD did not {what} in {self.timeout:g} s (probe {self._uid or '(any)'})") from e
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise TargetError(explain_failure(what, output, self._uid))
        return output
