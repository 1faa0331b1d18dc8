"""Device memory as the host reaches it through a debugger: the one interface the RTT transport needs,
with a backend per debugger (QEMU's gdbstub in hil.targets.gdb_remote, pyOCD in
hil.targets.pyocd_memory, OpenOCD's Tcl port in hil.openocd.tcl_memory)."""

from __future__ import annotations

from abc import ABC, abstractmethod


class MemoryAccess(ABC):
    """Reads and writes bytes of a running or halted target."""

    # True where memory is reached only while the target is halted (a gdbstub without non-stop mode): between
    # two run_until_service calls only the host changes the target's memory, so what it read stays true.
    halts_target: bool = False

    @abstractmethod
    def read(self, address: int, size: int) -> bytes:
        """size bytes from address (halting the target first where the backend needs it)."""

    @abstractmethod
    def write(self, address: int, data: bytes) -> None:
        """data to address (halting the target first where the backend needs it)."""

    @abstractmethod
    def run_until_service(self, timeout: float) -> bool:
        """Lets the target run until it may have bytes for the host or room for more: until it halts at its
        wait function (a gdbstub), or for one poll interval (a probe reading the running core). False when
        timeout passed first."""

    @abstractmethod
    def close(self) -> None:
        """Frees the connection; the target itself is the caller's."""
