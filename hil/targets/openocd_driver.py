"""OpenOcdProbeDriver: the board target's six driver methods (hil.targets.pyocd_board.ProbeDriver) as one-shot
`openocd` runs, each command line built by hil.openocd.commands. OpenOCD does not list probes, so the ST-LINKs
are found by USB: each one's virtual COM port carries the probe's serial number."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from serial.tools.list_ports import comports

from hil.errors import TargetError
from hil.openocd.commands import (
    INSTALL_HINT,
    OPENOCD,
    explain_failure,
    openocd_command,
    parse_read_memory,
    program_commands,
    read_memory_commands,
    reset_commands,
)
from hil.targets.probe_selection import ProbeInfo, SerialPortInfo

ST_VENDOR_ID = 0x0483
STLINK_PRODUCT_IDS = {0x3748: "ST-LINK/V2", 0x374B: "ST-LINK/V2-1", 0x374E: "STLINK-V3", 0x374F: "STLINK-V3"}


class OpenOcdProbeDriver:
    """Flash, reset and read a board's memory with Debian's `openocd` and the board's OpenOCD config."""

    def __init__(
        self,
        config: str,
        *,
        executable: str = OPENOCD,
        timeout: float = 120.0,
        list_ports: Callable[[], Iterable[SerialPortInfo]] = comports,
    ) -> None:
        """
        Args:
            config: the board's OpenOCD config (board.toml `openocd_config`, e.g. board/st_nucleo_f4.cfg).
            executable: the openocd program.
            timeout: seconds one OpenOCD run may take (a flash of 2 MB over SWD at 4 MHz takes well under 60).
            list_ports: lists serial ports with their USB ids; default pyserial's comports.
        """
        self.config = config
        self.executable = executable
        self.timeout = timeout
        self.list_ports = list_ports
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

    def close(self) -> None:
        self._uid = None

    def run(self, commands: Sequence[str], what: str) -> str:
        """Runs OpenOCD once with commands; its output (stdout and stderr: OpenOCD logs to stderr)."""
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
