"""Noise on the rtt transport: a MemoryAccess wrapper, for any backend, that flips bits in the bytes it reads
and writes, except inside spared address ranges (the RTT control block: its offsets are the rings' bookkeeping,
which a probe's checked memory access does not get wrong silently; the rings' payload bytes are what the
framed link must protect). Faults go into the bytes themselves, not into a debugger's packets: a GDB packet's
mod-256 checksum is no CRC, and a flipped address digit would write somewhere else."""

from __future__ import annotations

from hil.link.fault_proxy import ByteDamage, FaultRates
from hil.link.memory_access import MemoryAccess


class FaultyMemory(MemoryAccess):
    """Another MemoryAccess with bit flips in the bytes moved outside the spared (start, size) ranges."""

    def __init__(self, inner: MemoryAccess, rates: FaultRates, seed: int, spared: list[tuple[int, int]]) -> None:
        if rates.drop or rates.burst:
            raise ValueError("memory access moves every byte it is given: only flips apply, not drops or bursts")
        self.inner = inner
        self.damage = ByteDamage(rates, seed)
        self.spared = spared
        # RttPort caches offsets only on a backend that halts the target: the wrapper must not change how it talks.
        self.halts_target = inner.halts_target

    def _damaged(self, address: int, data: bytes) -> bytes:
        if any(start <= address and address + len(data) <= start + size for start, size in self.spared):
            return data
        if any(address < start + size and start < address + len(data) for start, size in self.spared):
            raise ValueError(f"an access at 0x{address:08x} of {len(data)} B straddles a spared range")
        return self.damage(data)

    def read(self, address: int, size: int) -> bytes:
        return self._damaged(address, self.inner.read(address, size))

    def write(self, address: int, data: bytes) -> None:
        self.inner.write(address, self._damaged(address, data))

    def run_until_service(self, timeout: float) -> bool:
        return self.inner.run_until_service(timeout)

    def close(self) -> None:
        self.inner.close()
