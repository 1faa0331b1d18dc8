"""A fake probe driver and fake serial-port listings for PyOcdBoardTarget."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from hil.board_description import BoardDescription
from hil.targets.gdb_remote import GdbRemote
from hil.targets.probe_selection import ProbeInfo
from hil.targets.pyocd_memory import PyOcdMemoryAccess
from hil.targets.qemu import QemuProcess


def stlink(uid: str, target: str = "stm32f439zitx", board: str = "NUCLEO-F439ZI") -> ProbeInfo:
    return ProbeInfo(uid, f"{board} [{target}]", "STMicroelectronics", "STM32 STLink", board, target)


@dataclass
class FakePort:
    """One entry of serial.tools.list_ports.comports()."""

    device: str
    serial_number: str | None
    description: str = "STM32 STLink - ST-Link VCP Data"
    location: str | None = None


def listening(port: int) -> bool:
    """Whether something on this host listens on TCP port (read from /proc, without connecting)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].rsplit(":", 1)[1] == f"{port:04X}" and fields[3] == "0A":
                return True
    return False


class RunningCoreMemory:
    """Stands in for pyOCD's target object (`session.target`) of a board that does not exist here, and only
    for its two block methods, read_memory_block8 and write_memory_block8. The core is a QEMU running the
    firmware, reached through its gdbstub: each access interrupts it, moves the bytes and lets it run on, as a
    probe's access to a running core goes unnoticed by it. No breakpoints: the firmware spins while it waits."""

    def __init__(self, remote: GdbRemote, fail_after: int | None = None) -> None:
        self.remote = remote
        self.accesses = 0
        self.fail_after = fail_after  # accesses that succeed before every later one raises OSError (a lost probe)

    def _count(self) -> None:
        self.accesses += 1
        if self.fail_after is not None and self.accesses > self.fail_after:
            raise OSError("USB transfer failed (the fake probe was unplugged)")

    def read_memory_block8(self, addr: int, size: int) -> list[int]:
        self._count()
        data = self.remote.read_memory(addr, size)
        self.remote.resume()
        return list(data)

    def write_memory_block8(self, addr: int, data: list[int]) -> None:
        self._count()
        self.remote.write_memory(addr, bytes(data))
        self.remote.resume()


class FakeProbeDriver:
    """Stands in for a physical ST-LINK probe and NUCLEO-F439ZI board, which do not exist on this machine.

    It implements exactly PyOcdBoardTarget's driver interface (list_probes, open, flash, read_memory,
    reset, close). "Flash" keeps the ELF's loadable bytes in a dict that read_memory reads back;
    "reset" (re)starts QEMU running the flashed image with its UART on a local TCP port, so the
    serial link behind the fake virtual COM port is real. Hangs are QEMU stopped with SIGSTOP.

    Args:
        probes: what list_probes reports.
        board: the QEMU board that runs the image (mps2-an386).
        workdir: QEMU's working directory and log.
        uart_port: TCP port of the fake virtual COM port.
        dev_id: DBGMCU_IDCODE DEV_ID the chip reports (0x419: STM32F42x/43x).
        runs_elf: the image QEMU runs whatever was flashed (a flash that did not take).
        frozen_resets: how many of the next resets leave the board hung; a flash clears it unless sticky.
        sticky_hang: resets and reflashes never bring the board back.
        corrupt_flash: flip one byte of every flash write.
        gdb_port: QEMU's gdbstub port; rtt_memory() reaches the running image through it (RunningCoreMemory).
    """

    def __init__(
        self,
        probes: list[ProbeInfo],
        board: BoardDescription,
        workdir: Path,
        uart_port: int,
        *,
        dev_id: int = 0x419,
        runs_elf: Path | None = None,
        frozen_resets: int = 0,
        sticky_hang: bool = False,
        corrupt_flash: bool = False,
        gdb_port: int | None = None,
    ) -> None:
        self.probes = probes
        self.board = board
        self.workdir = workdir
        self.uart_port = uart_port
        self.dev_id = dev_id
        self.runs_elf = runs_elf
        self.frozen_resets = frozen_resets
        self.sticky_hang = sticky_hang
        self.corrupt_flash = corrupt_flash
        self.gdb_port = gdb_port
        self.remote: GdbRemote | None = None
        self.calls: list[str] = []
        self.memory: dict[int, bytes] = {}
        self.flashed: Path | None = None
        self.opened: str | None = None
        self.qemu: QemuProcess | None = None

    def list_probes(self) -> list[ProbeInfo]:
        self.calls.append("list_probes")
        return list(self.probes)

    def open(self, unique_id: str, target: str) -> None:
        self.calls.append(f"open {unique_id} {target}")
        self.opened = unique_id

    def flash(self, elf: Path) -> None:
        self.calls.append(f"flash {elf.name}")
        self.flashed = elf
        if not self.sticky_hang:
            self.frozen_resets = 0
        with open(elf, "rb") as f:
            for segment in ELFFile(f).iter_segments():
                if segment["p_type"] == "PT_LOAD" and segment["p_filesz"]:
                    data = bytearray(segment.data()[: segment["p_filesz"]])
                    if self.corrupt_flash:
                        data[len(data) // 2] ^= 0x01
                    self.memory[segment["p_paddr"]] = bytes(data)

    def read_memory(self, address: int, size: int) -> bytes:
        self.calls.append(f"read 0x{address:08x} {size}")
        if address == 0xE0042000:
            return (0x10000000 | self.dev_id).to_bytes(4, "little")
        for start, data in self.memory.items():
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        return bytes([0xFF]) * size  # erased flash

    def reset(self) -> None:
        self.calls.append("reset")
        self._kill()
        image = self.runs_elf or self.flashed
        assert image is not None, "reset before any flash"
        serial = f"tcp:127.0.0.1:{self.uart_port},server=on,wait=off,nodelay=on"
        gdb = ("-gdb", f"tcp:127.0.0.1:{self.gdb_port}") if self.gdb_port else ()
        self.qemu = QemuProcess(self.board, image, self.workdir, serial, extra_args=gdb)
        self.qemu.start()
        deadline = time.monotonic() + 10
        for port in (self.uart_port, self.gdb_port):
            while port and not listening(port):
                assert time.monotonic() < deadline, f"QEMU did not listen on {port}: {self.qemu.output_tail()}"
                time.sleep(0.02)
        if self.sticky_hang or self.frozen_resets > 0:
            self.frozen_resets = max(0, self.frozen_resets - 1)
            self.hang()

    def rtt_memory(self) -> PyOcdMemoryAccess:
        self.calls.append("rtt_memory")
        assert self.gdb_port, "rtt_memory needs a fake made with gdb_port"
        if self.remote is None:
            self.remote = GdbRemote("127.0.0.1", self.gdb_port)
        self.remote.resume()
        return PyOcdMemoryAccess(RunningCoreMemory(self.remote), "fake probe")

    def hang(self) -> None:
        """The firmware stops answering (QEMU stopped; its socket still accepts connections)."""
        assert self.qemu is not None and self.qemu.process is not None
        os.kill(self.qemu.process.pid, signal.SIGSTOP)

    def close(self) -> None:
        self.calls.append("close")
        self._kill()
        self.opened = None

    def _kill(self) -> None:
        if self.remote is not None:
            self.remote.close()
            self.remote = None
        # SIGKILL, since a stopped QEMU would only act on SIGTERM once continued.
        if self.qemu is not None and self.qemu.process is not None and self.qemu.poll() is None:
            self.qemu.process.kill()
            self.qemu.process.wait(5)
        self.qemu = None
