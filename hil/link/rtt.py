"""The framed link over SEGGER RTT rings in device RAM, through any MemoryAccess backend.

firmware/app/rtt.h is the device's twin of the layout below. RttPort offers the part of pyserial's
interface DeviceLink uses, so the link's framing, resends and CRC checks run unchanged over it."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from hil.errors import LinkError
from hil.link.memory_access import MemoryAccess

SIGNATURE = b"SEGGER RTT"
CONTROL_BLOCK_SYMBOL = "_SEGGER_RTT"
WAIT_SYMBOL = "hil_rtt_wait"
ID_BYTES = 16
RING_BYTES = 24  # name, buffer, size, write_offset, read_offset, flags: six u32
UP_RING_OFFSET = ID_BYTES + 8
DOWN_RING_OFFSET = UP_RING_OFFSET + RING_BYTES
CONTROL_BLOCK_BYTES = DOWN_RING_OFFSET + RING_BYTES
WRITE_OFFSET_FIELD = 12
READ_OFFSET_FIELD = 16
# One read covers both rings' offsets: up write/read at +12/+16, down write/read 24 bytes further.
OFFSETS_START = UP_RING_OFFSET + WRITE_OFFSET_FIELD
OFFSETS_BYTES = RING_BYTES + 8
# One write can publish both offsets the host owns: the up ring's read offset, then the down ring's write offset
# 20 bytes on; the four fields between (up flags, down name, buffer, size) are written back as they were.
UP_READ_FIELD = UP_RING_OFFSET + READ_OFFSET_FIELD
DOWN_WRITE_FIELD = DOWN_RING_OFFSET + WRITE_OFFSET_FIELD
DEFAULT_READ_TIMEOUT_S = 0.2
WRITE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RttAddresses:
    """Where an rtt build keeps its control block, and the function it calls when it waits for the host."""

    control_block: int
    wait_function: int


def rtt_addresses(elf_path: Path) -> RttAddresses:
    """The RTT symbols of a firmware image; one line saying what is missing otherwise."""
    with open(elf_path, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        found = {}
        for name in (CONTROL_BLOCK_SYMBOL, WAIT_SYMBOL):
            symbols = symtab.get_symbol_by_name(name) if symtab else None
            if not symbols:
                raise LinkError(f"{elf_path} has no symbol {name}: it is not an rtt build (build with transport 'rtt')")
            found[name] = symbols[0]["st_value"]
    return RttAddresses(found[CONTROL_BLOCK_SYMBOL], found[WAIT_SYMBOL])


def control_block_symbol(elf_path: Path) -> int | None:
    """The address of _SEGGER_RTT in a firmware image, or None when the image does not name it (stripped)."""
    with open(elf_path, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        symbols = symtab.get_symbol_by_name(CONTROL_BLOCK_SYMBOL) if symtab else None
    return symbols[0]["st_value"] if symbols else None


def find_control_block(memory: MemoryAccess, regions: list[tuple[int, int]], chunk: int = 4096) -> int:
    """The address of the first RTT control block in the (start, size) regions, found by its signature as
    pyOCD, OpenOCD and J-Link find it; one line naming the regions searched otherwise."""
    for start, size in regions:
        end = start + size
        # Each read overlaps the next by the signature's length less one, so a signature across the seam is seen.
        for address in range(start, end, chunk):
            data = memory.read(address, min(chunk + len(SIGNATURE) - 1, end - address))
            found = data.find(SIGNATURE)
            if found >= 0:
                return address + found
    searched = ", ".join(f"0x{start:08x}-0x{start + size - 1:08x}" for start, size in regions)
    raise LinkError(
        f"no RTT control block ('{SIGNATURE.decode()}') in {searched}: is the firmware an rtt build, and running?"
    )


@dataclass(frozen=True)
class Ring:
    """One ring as its descriptor in the control block describes it."""

    descriptor: int
    buffer: int
    size: int

    @classmethod
    def parse(cls, descriptor: int, raw: bytes) -> Ring:
        _, buffer, size, _, _, _ = struct.unpack("<6I", raw)
        if size < 2:
            raise LinkError(f"RTT ring at 0x{descriptor:08x} has size {size}; expected at least 2")
        return cls(descriptor, buffer, size)

    def pieces(self, start: int, count: int) -> list[tuple[int, int]]:
        """(address, length) of count bytes from offset start, split where the ring wraps."""
        first = min(count, self.size - start)
        pieces = [(self.buffer + start, first)]
        if count > first:
            pieces.append((self.buffer, count - first))
        return pieces


class RttPort:
    """A byte stream over the first up and down rings of an RTT control block."""

    def __init__(self, memory: MemoryAccess, control_block: int, startup_timeout: float = 10.0) -> None:
        self.memory = memory
        self.control_block = control_block
        self.timeout: float | None = DEFAULT_READ_TIMEOUT_S
        self._layout = b""
        self.up, self.down = self._locate(startup_timeout)
        self._received = bytearray()
        # Offsets read while the target is halted stay true until it runs (MemoryAccess.halts_target).
        self._known_offsets: list[int] | None = None
        # An up read offset not yet written back: it goes with the next down write offset, or before the target runs.
        self._unpublished_up_read: int | None = None
        # The device still runs after a service wait that timed out: a backend that halts the target to reach
        # memory would interrupt it mid-frame, so reads wait for its next service instead.
        self._still_running = False

    def _locate(self, timeout: float) -> tuple[Ring, Ring]:
        """The rings, once the firmware has written its control block (it does on its first link call)."""
        deadline = time.monotonic() + timeout
        while True:
            raw = self.memory.read(self.control_block, CONTROL_BLOCK_BYTES)
            if raw.startswith(SIGNATURE):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkError(
                    f"no RTT control block ('{SIGNATURE.decode()}') at 0x{self.control_block:08x} after {timeout:g} s: "
                    f"is the firmware an rtt build, and running?"
                )
            self.memory.run_until_service(remaining)
        up_count, down_count = struct.unpack_from("<2i", raw, ID_BYTES)
        if up_count < 1 or down_count < 1:
            raise LinkError(
                f"RTT control block at 0x{self.control_block:08x} has {up_count} up, {down_count} down rings"
            )
        self._layout = raw
        up = Ring.parse(self.control_block + UP_RING_OFFSET, raw[UP_RING_OFFSET:DOWN_RING_OFFSET])
        down = Ring.parse(self.control_block + DOWN_RING_OFFSET, raw[DOWN_RING_OFFSET:CONTROL_BLOCK_BYTES])
        return up, down

    def _offsets(self) -> list[int]:
        """Up write, up read, down write, down read; each checked against its ring's size."""
        if self._known_offsets is not None:
            return self._known_offsets
        offsets = list(struct.unpack("<8I", self.memory.read(self.control_block + OFFSETS_START, OFFSETS_BYTES)))
        up_write, up_read, *_, down_write, down_read = offsets
        if max(up_write, up_read) >= self.up.size or max(down_write, down_read) >= self.down.size:
            raise LinkError(
                f"RTT offsets out of range (up {up_write}/{up_read} of {self.up.size}, down {down_write}/{down_read} "
                f"of {self.down.size}): the control block at 0x{self.control_block:08x} was overwritten"
            )
        offsets = [up_write, up_read, down_write, down_read]
        if self.memory.halts_target:
            self._known_offsets = offsets
        return offsets

    def _publish(self, down_write: int | None = None) -> None:
        """Writes the offsets the host moved: the pending up read offset, down_write, or both in one write."""
        up_read, self._unpublished_up_read = self._unpublished_up_read, None
        if up_read is not None and down_write is not None:
            between = self._layout[UP_READ_FIELD + 4 : DOWN_WRITE_FIELD]
            block = struct.pack("<I", up_read) + between + struct.pack("<I", down_write)
            self.memory.write(self.control_block + UP_READ_FIELD, block)
        elif up_read is not None:
            self.memory.write(self.control_block + UP_READ_FIELD, struct.pack("<I", up_read))
        elif down_write is not None:
            self.memory.write(self.control_block + DOWN_WRITE_FIELD, struct.pack("<I", down_write))

    def _service(self, timeout: float) -> None:
        """Lets the device run until it may need the host again; what the host knew of its memory is stale then."""
        self._publish()
        self._known_offsets = None
        self._still_running = not self.memory.run_until_service(timeout)

    def _drain(self) -> None:
        """Moves whatever the up ring holds into the host's buffer and hands the space back."""
        offsets = self._offsets()
        up_write, up_read = offsets[0], offsets[1]
        count = (up_write - up_read) % self.up.size
        if not count:
            return
        for address, length in self.up.pieces(up_read, count):
            self._received += self.memory.read(address, length)
        offsets[1] = up_write
        self._unpublished_up_read = up_write
        if not self.memory.halts_target:
            self._publish()

    @property
    def in_waiting(self) -> int:
        return len(self._received)

    def read(self, size: int = 1) -> bytes:
        """Up to size bytes; waits at most self.timeout for the first one."""
        deadline = time.monotonic() + (DEFAULT_READ_TIMEOUT_S if self.timeout is None else self.timeout)
        while not self._received:
            if not (self._still_running and self.memory.halts_target):
                self._drain()
            remaining = deadline - time.monotonic()
            if self._received or remaining <= 0:
                break
            self._service(remaining)
            if self._still_running and self.memory.halts_target:
                break
        data = bytes(self._received[:size])
        del self._received[:size]
        return data

    def write(self, data: bytes) -> int:
        """Puts data in the down ring, letting the device make room while it is full."""
        view = memoryview(bytes(data))
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        while view:
            offsets = self._offsets()
            down_write, down_read = offsets[2], offsets[3]
            count = min(len(view), (down_read - down_write - 1) % self.down.size)
            if not count:
                if time.monotonic() > deadline:
                    raise LinkError(f"the device left its RTT down ring full for {WRITE_TIMEOUT_S:g} s")
                self._service(deadline - time.monotonic())
                continue
            done = 0
            for address, length in self.down.pieces(down_write, count):
                self.memory.write(address, bytes(view[done : done + length]))
                done += length
            offsets[2] = (down_write + count) % self.down.size
            self._publish(down_write=offsets[2])
            view = view[count:]
        return len(data)

    def flush(self) -> None:
        """write() has put every byte in the ring already."""

    def reset_input_buffer(self) -> None:
        self._received.clear()

    def close(self) -> None:
        self.memory.close()
