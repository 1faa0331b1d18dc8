"""A real board through pyOCD: pick the probe by unique ID, flash and verify the ELF, reset, and talk to
the firmware over the virtual COM port of that same probe (matched by USB serial number), or over RTT rings
in its RAM through the probe itself (transport rtt).

Only `PyOcdProbeDriver` (hil/targets/pyocd_driver.py) touches pyOCD. `PyOcdBoardTarget` talks to any
object with the driver's methods (list_probes, open, flash, read_memory, reset, close; rtt_memory for rtt),
so tests run it against a fake.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import serial
from elftools.elf.elffile import ELFFile
from serial.tools.list_ports import comports

from hil.board_description import BoardDescription
from hil.build.firmware_builder import read_board_name, read_build_id
from hil.errors import LinkError, TargetError
from hil.link.device_link import DeviceLink, InferenceOutcome, open_port
from hil.link.memory_access import MemoryAccess
from hil.link.messages import DeviceInfo
from hil.link.rtt import RttPort, control_block_symbol, find_control_block
from hil.locks.board_lock import BoardLock
from hil.targets.board_errors import (
    BoardHungError,
    FlashVerifyError,
    PortBusyError,
    StaleFirmwareError,
    WrongChipError,
)
from hil.targets.linked import LinkedTarget
from hil.targets.probe_selection import ProbeInfo, SerialPortInfo, find_com_port, select_probe
from hil.targets.pyocd_driver import PyOcdProbeDriver
from hil.targets.registry import TargetRequest, register_target

LOG = logging.getLogger(__name__)

SEMIHOSTING_NOT_IMPLEMENTED = (
    "transport 'semihosting' on a board through pyOCD is not implemented: pyOCD's SemihostAgent rejects "
    "SYS_EXIT/SYS_EXIT_EXTENDED, which the semihosting firmware ends with, and opens files relative to the "
    "host's working directory; use the UART build on boards (semihosting runs under QEMU)"
)
# How long after a reset the firmware may take to write its RTT control block (it does on its first link call).
RTT_STARTUP_S = 5.0
# STM32 DBGMCU_IDCODE: DEV_ID in bits 11:0 names the die, whatever the package or flash size.
DBGMCU_IDCODE = 0xE0042000
STM32_DEV_IDS = {
    "stm32f40": 0x413,
    "stm32f41": 0x413,
    "stm32f42": 0x419,
    "stm32f43": 0x419,
    "stm32f446": 0x421,
    "stm32f411": 0x431,
}
DEV_ID_NAMES = {
    0x413: "STM32F405/407/415/417",
    0x419: "STM32F42x/F43x",
    0x421: "STM32F446",
    0x431: "STM32F411",
    0x449: "STM32F74x/F75x",
    0x451: "STM32F76x/F77x",
    0x415: "STM32L47x/L48x",
}


class ProbeDriver(Protocol):
    """The small interface PyOcdBoardTarget needs from a debug probe."""

    def list_probes(self) -> list[ProbeInfo]: ...
    def open(self, unique_id: str, target: str) -> None: ...
    def flash(self, elf: Path) -> None: ...
    def read_memory(self, address: int, size: int) -> bytes: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...
    def rtt_memory(self) -> MemoryAccess: ...


def flash_segments(elf: Path, board: BoardDescription) -> list[tuple[int, bytes]]:
    """(load address, bytes) of every loadable segment the image puts in the board's flash."""
    flash = board.memory["FLASH"]
    segments = []
    with open(elf, "rb") as f:
        for segment in ELFFile(f).iter_segments():
            if segment["p_type"] == "PT_LOAD" and segment["p_filesz"] and flash.contains(segment["p_paddr"]):
                segments.append((segment["p_paddr"], segment.data()[: segment["p_filesz"]]))
    return segments


def first_difference(a: bytes, b: bytes) -> int:
    """Offset of the first byte where a and b differ (the shorter length if one is a prefix of the other)."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


class PyOcdBoardTarget(LinkedTarget):
    """A real board flashed through pyOCD; the UART build is reached over its probe's virtual COM port, the rtt
    build over the probe's memory access."""

    def __init__(
        self,
        board: BoardDescription,
        elf: Path,
        *,
        probe_uid: str | None = None,
        serial_port: str | None = None,
        transport: str = "uart",
        driver: ProbeDriver | None = None,
        list_ports: Callable[[], Iterable[SerialPortInfo]] = comports,
        lock_dir: Path | None = None,
        reply_timeout: float = 2.0,
        run_timeout: float = 120.0,
        attempts: int = 5,
        recoveries: int = 2,
        verify: bool = True,
        port_open_timeout: float = 5.0,
        baud_negotiation: bool = True,
    ) -> None:
        """
        Args:
            board: the silicon board (its board.toml names `pyocd_target`).
            elf: the UART build for it.
            probe_uid: the probe's unique ID (farm file `probe_uid`); None takes the first free ST-LINK
                whose board is `board.pyocd_target`.
            serial_port: the port (farm file `serial_port`); None finds the probe's own by USB serial number.
            transport: "uart" or "rtt" ("semihosting" is refused, see SEMIHOSTING_NOT_IMPLEMENTED).
            driver: the probe driver; default PyOcdProbeDriver().
            list_ports: lists serial ports; default pyserial's comports.
            lock_dir: where probe locks live (`probe-<uid>`), shared by every worker of a run.
            recoveries: how many times a hung board is brought back (a reset first, then reflashes).
            verify: read flash back after programming and compare with the ELF.
            port_open_timeout: seconds a socket:// or rfc2217:// port may take to accept; device paths
                are tried once (a busy tty does not free itself).
            baud_negotiation: move the UART up to the fastest rate of the board's `[uart] rates` that passes
                an echo burst (hil.link.baud), after every start and every recovery.
        """
        self.board = board
        self.elf = elf
        self.probe_uid = probe_uid
        self.serial_port = serial_port
        self.transport = transport
        self.driver: ProbeDriver = driver or PyOcdProbeDriver()
        self.list_ports = list_ports
        self.lock_dir = lock_dir
        self.reply_timeout = reply_timeout
        self.run_timeout = run_timeout
        self.attempts = attempts
        self.recoveries = recoveries
        self.verify = verify
        self.port_open_timeout = port_open_timeout
        self.baud_negotiation = baud_negotiation
        self.probe: ProbeInfo | None = None
        self.port_url = ""
        self.link: DeviceLink | None = None
        self.info: DeviceInfo | None = None
        self.recovery_log: list[str] = []
        self._last_inputs: list[bytes] | None = None
        self._probe_lock: BoardLock | None = None
        self._driver_open = False

    @property
    def where(self) -> str:
        uid = self.probe.unique_id if self.probe else "?"
        return f"board {self.board.name} (probe {uid}, port {self.port_url or '?'})"

    def start(self) -> DeviceInfo:
        if self.transport == "semihosting":
            raise TargetError(SEMIHOSTING_NOT_IMPLEMENTED)
        self._check_image()
        self.probe = self._choose_probe(self.driver.list_probes())
        try:
            if self.transport == "uart":
                # The port is found before flashing, so a probe without one fails in seconds, not after a flash.
                self.port_url = find_com_port(self.probe, self.list_ports(), self.serial_port)
            self.driver.open(self.probe.unique_id, self.board.pyocd_target or "")
            self._driver_open = True
            self._check_chip()
            self._flash()
            self.driver.reset()
            self.info = self._connect()
        except BaseException:
            self.stop()
            raise
        return self.info

    def _choose_probe(self, probes: list[ProbeInfo]) -> ProbeInfo:
        return select_probe(probes, self.board.pyocd_target or "", self.probe_uid, self._claim)

    def _check_image(self) -> None:
        if not self.board.pyocd_target:
            raise TargetError(f"board '{self.board.name}' has no pyocd_target in its board.toml")
        if not self.elf.is_file():
            raise TargetError(f"no firmware image at {self.elf}: build it with `hil build --board {self.board.name}`")
        built_for = read_board_name(self.elf)
        if built_for != self.board.name:
            raise WrongChipError(
                f"{self.elf} was built for board '{built_for or 'unknown'}', not '{self.board.name}' "
                f"({self.board.pyocd_target}): build it with `hil build --board {self.board.name}`"
            )

    def _claim(self, probe: ProbeInfo) -> bool:
        lock = BoardLock(f"probe-{probe.unique_id}", self.lock_dir, owner=f"{self.board.name}")
        if not lock.try_acquire():
            return False
        self._probe_lock = lock
        return True

    def _check_chip(self) -> None:
        target = (self.board.pyocd_target or "").lower()
        # Longest prefix first, so stm32f446 is not taken for the stm32f44 family.
        prefixes = sorted(STM32_DEV_IDS, key=len, reverse=True)
        expected = next((STM32_DEV_IDS[p] for p in prefixes if target.startswith(p)), None)
        if expected is None:
            return
        dev_id = int.from_bytes(self.driver.read_memory(DBGMCU_IDCODE, 4), "little") & 0xFFF
        if dev_id != expected:
            raise WrongChipError(
                f"probe {self.probe.unique_id if self.probe else '?'} reaches a chip with DEV_ID 0x{dev_id:03x} "
                f"({DEV_ID_NAMES.get(dev_id, 'not an STM32 this harness knows')}), but {self.board.name} needs "
                f"0x{expected:03x} ({DEV_ID_NAMES[expected]}, pyOCD target {target}): "
                "the probe is wired to another board"
            )

    def _flash(self) -> None:
        LOG.info("flashing %s through probe %s", self.elf, self.probe.unique_id if self.probe else "?")
        self.driver.flash(self.elf)
        if not self.verify:
            return
        for address, expected in flash_segments(self.elf, self.board):
            actual = self.driver.read_memory(address, len(expected))
            if actual != expected:
                offset = first_difference(actual, expected)
                raise FlashVerifyError(
                    f"{self.where}: flash at 0x{address + offset:08x} reads back differently from {self.elf} "
                    f"(segment at 0x{address:08x}, {len(expected)} bytes): flash write-protected or failing; "
                    f"try `pyocd erase --chip -u {self.probe.unique_id if self.probe else '?'}`"
                )

    def _open_port(self) -> serial.SerialBase:
        deadline = time.monotonic() + self.port_open_timeout
        while True:
            try:
                port = open_port(self.port_url, self.board.baud)
                break
            except LinkError as e:
                # A network serial port (labgrid's ser2net, an emulator) may take a moment to accept again.
                if "://" in self.port_url and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise PortBusyError(
                    f"cannot open {self.port_url}, the serial port of {self.where}: {e}. If it exists, another "
                    "program holds it (a terminal such as screen, minicom or picocom, another test run, "
                    "ModemManager): close it; 'Permission denied' means this user is not in the dialout group"
                ) from e
        if "://" not in self.port_url:
            try:
                # Cooperating programs (pyserial's exclusive=True, picocom) flock the tty: so do we.
                fcntl.flock(port.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                port.close()
                raise PortBusyError(
                    f"{self.port_url}, the serial port of {self.where}, is held by another program "
                    "(a terminal such as picocom or another test run): close it"
                ) from e
        return port

    def _open_rtt(self) -> RttPort:
        """The RTT rings through the probe: the control block at the image's _SEGGER_RTT, or found by its
        signature in the board's RAM when the image does not name it."""
        memory = self.driver.rtt_memory()
        address = control_block_symbol(self.elf)
        deadline = time.monotonic() + RTT_STARTUP_S
        while address is None:
            ram = [(r.origin, r.size) for name, r in self.board.memory.items() if name != "FLASH"]
            try:
                address = find_control_block(memory, ram)
            except LinkError as e:
                if time.monotonic() > deadline:
                    raise TargetError(f"{self.where}: {e}") from e
                time.sleep(0.05)
        self.port_url = f"rtt@0x{address:08x}"
        try:
            return RttPort(memory, address, startup_timeout=RTT_STARTUP_S)
        except LinkError as e:
            raise TargetError(f"{self.where}: {e}") from e

    def _connect(self) -> DeviceInfo:
        """Opens the port (the rings for rtt), asks INFO, and checks that the board runs this very image."""
        port = self._open_rtt() if self.transport == "rtt" else self._open_port()
        self.link = DeviceLink(port, self.port_url, self.reply_timeout, self.attempts)
        try:
            info = self.link.info()
        except LinkError as e:
            uart = self.transport == "uart"
            port_hint = " and that the port is the ST-LINK virtual COM port of this board" if uart else ""
            raise TargetError(
                f"{self.where} did not answer INFO after reset: {e}. Check that {self.elf.name} is a "
                f"{self.transport} build{port_hint}"
            ) from e
        expected = read_build_id(self.elf)
        if info.board != self.board.name:
            raise WrongChipError(
                f"{self.port_url} answers as board '{info.board}' (build {info.build_id}), expected "
                f"'{self.board.name}' (build {expected}): the port belongs to another board"
            )
        if info.build_id != expected:
            raise StaleFirmwareError(
                f"stale firmware: {self.where} runs build {info.build_id}, {self.elf} is build {expected}: "
                "the flash did not take, or the port belongs to another board of the same kind"
            )
        if self.transport == "uart":
            # A reset board is back at its default rate, and the port was just opened at that rate.
            self._settle_uart(self.board.baud)
        return info

    def _recover(self, inputs: list[bytes], first: LinkError) -> InferenceOutcome:
        """A board that stopped answering: reset it, then reflash it, `recoveries` times in all."""
        errors = [str(first)]
        for attempt in range(self.recoveries):
            action = "reset" if attempt == 0 else "reflash"
            self.recovery_log.append(action)
            LOG.warning("%s stopped answering (%s): %s", self.where, errors[-1], action)
            try:
                self._close_link()
                if action == "reflash":
                    self._flash()
                self.driver.reset()
                self.info = self._connect()
                return self.link.infer(inputs, self.run_timeout)  # type: ignore[union-attr]
            except (LinkError, TargetError) as e:
                errors.append(f"after {action}: {e}")
        raise BoardHungError(
            f"{self.where} stopped answering and {self.recoveries} recoveries "
            f"({', '.join(self.recovery_log[-self.recoveries :]) or 'none allowed'}) did not bring it back: "
            + "; ".join(errors)
            + ". Power-cycle it (unplug the ST-LINK's USB) and check `pyocd list`"
        )

    def stop(self) -> None:
        self._close_link()
        if self._driver_open:
            self._driver_open = False
            self.driver.close()
        if self._probe_lock is not None:
            self._probe_lock.release()
            self._probe_lock = None


@register_target("pyocd")
def _pyocd_board(request: TargetRequest) -> PyOcdBoardTarget:
    return PyOcdBoardTarget(
        request.description,
        request.elf,
        probe_uid=request.probe,
        serial_port=request.port,
        transport=request.transport,
        lock_dir=request.lock_dir,
        run_timeout=request.run_timeout,
        baud_negotiation=request.baud_negotiation,
    )
