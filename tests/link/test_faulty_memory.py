"""FaultyMemory over a plain bytearray: a MemoryAccess backend that holds memory in the test itself (the thinnest
stand-in for a target's RAM; the run over QEMU's rings is the rtt short form in test_fault_injection)."""

from __future__ import annotations

import pytest

from hil.link.fault_proxy import FaultRates
from hil.link.faulty_memory import FaultyMemory
from hil.link.memory_access import MemoryAccess

BASE = 0x2000_0000


class ArrayMemory(MemoryAccess):
    halts_target = True

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.data[address - BASE : address - BASE + size])

    def write(self, address: int, data: bytes) -> None:
        self.data[address - BASE : address - BASE + len(data)] = data

    def run_until_service(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        pass


def test_flips_land_outside_the_spared_range_only_and_at_the_rate() -> None:
    inner = ArrayMemory(0x10000)
    rates = FaultRates(flip=0.01)
    memory = FaultyMemory(inner, rates, seed=3, spared=[(BASE, 64)])
    memory.write(BASE, bytes(64))
    memory.write(BASE + 64, bytes(20_000))
    assert memory.read(BASE, 64) == bytes(64)
    assert inner.data[:64] == bytes(64)
    flipped_on_write = sum(bin(b).count("1") for b in inner.data[64 : 64 + 20_000])
    assert 100 < flipped_on_write < 300
    read_back = memory.read(BASE + 64, 20_000)
    assert read_back != bytes(inner.data[64 : 64 + 20_000])
    assert rates.counts["flip"] > flipped_on_write


def test_an_access_that_straddles_the_spared_range_is_refused() -> None:
    memory = FaultyMemory(ArrayMemory(256), FaultRates(flip=0.01), seed=1, spared=[(BASE + 16, 16)])
    with pytest.raises(ValueError, match="straddles a spared range"):
        memory.read(BASE + 8, 16)


def test_drops_are_refused_because_memory_moves_every_byte() -> None:
    with pytest.raises(ValueError, match="only flips apply"):
        FaultyMemory(ArrayMemory(16), FaultRates(drop=0.01), seed=1, spared=[])


def test_the_wrapper_keeps_the_backends_halting_so_rtt_talks_to_it_the_same_way() -> None:
    assert FaultyMemory(ArrayMemory(16), FaultRates(flip=0.01), seed=1, spared=[]).halts_target
