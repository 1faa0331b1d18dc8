"""Device memory through pyOCD: a debug probe reads and writes the RAM of the running core (the Cortex-M
debug port reaches the bus while the core runs), so the RTT rings are served without halting it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from hil.errors import LinkError
from hil.link.memory_access import MemoryAccess

# How long the host lets the core run between two looks at the rings: a frame is ~2 KB, which a probe moves in
# 7-20 ms on an ST-LINK/V2-1 (0.1-0.3 MB/s), so a shorter sleep costs nothing and a longer one adds latency.
POLL_INTERVAL_S = 0.001


class BlockMemory(Protocol):
    """The two methods of pyOCD's target (`session.target`, a CoreSightTarget) the rtt transport needs."""

    def read_memory_block8(self, addr: int, size: int) -> Sequence[int]: ...
    def write_memory_block8(self, addr: int, data: Sequence[int]) -> None: ...


class PyOcdMemoryAccess(MemoryAccess):
    """RTT memory access on a running target through pyOCD's read_memory_block8 / write_memory_block8."""

    def __init__(
        self,
        target: BlockMemory,
        name: str,
        errors: tuple[type[BaseException], ...] = (OSError,),
        poll_s: float = POLL_INTERVAL_S,
    ) -> None:
        """
        Args:
            target: pyOCD's target object (or anything with its two block methods).
            name: the probe, for error messages.
            errors: the exceptions a failed transfer raises (pyOCD's exceptions.Error and OSError); each becomes a
                LinkError naming the address, so the link resends or the target recovers the board.
            poll_s: how long run_until_service lets the core run.
        """
        self.target = target
        self.name = name
        self.errors = errors
        self.poll_s = poll_s

    def read(self, address: int, size: int) -> bytes:
        try:
            return bytes(self.target.read_memory_block8(address, size))
        except self.errors as e:
            raise LinkError(f"{self.name}: reading {size} bytes at 0x{address:08x} failed: {e}") from e

    def write(self, address: int, data: bytes) -> None:
        try:
            self.target.write_memory_block8(address, list(data))
        except self.errors as e:
            raise LinkError(f"{self.name}: writing {len(data)} bytes at 0x{address:08x} failed: {e}") from e

    def run_until_service(self, timeout: float) -> bool:
        """The core never stops: one poll interval (or what is left of timeout) passes."""
        time.sleep(max(0.0, min(self.poll_s, timeout)))
        return timeout > self.poll_s

    def close(self) -> None:
        """The pyOCD session belongs to the probe driver, which closes it."""
