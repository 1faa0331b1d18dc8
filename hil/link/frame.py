"""Frames on the wire: 0xA5 0x5A | type | seq | length u16 | payload | crc32 u32 (little-endian).

The CRC-32 (zlib's) covers type..payload. FrameDecoder takes bytes as they arrive, in any pieces,
and gives back whole frames; after a corrupt frame it resynchronises on the next sync bytes,
looking inside the rejected bytes too, so a frame that followed garbage is not lost.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SYNC = b"\xa5\x5a"
HEADER = struct.Struct("<2sBBH")
CRC = struct.Struct("<I")
DEFAULT_MAX_PAYLOAD = 2048


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class CorruptFrame:
    """Bytes that looked like the start of a frame but were not one: a CRC mismatch or a bad length."""

    reason: str


def encode_frame(frame_type: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a frame (at most 65535)")
    header = HEADER.pack(SYNC, frame_type, seq & 0xFF, len(payload))
    return header + payload + CRC.pack(zlib.crc32(header[2:] + payload))


class FrameDecoder:
    """Turns a byte stream into Frames and CorruptFrames."""

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buffer = bytearray()

    def bytes_needed(self) -> int:
        """How many more bytes would complete the frame now in the buffer (a header's worth when idle)."""
        start = self._buffer.find(SYNC)
        if start < 0 or len(self._buffer) - start < HEADER.size:
            return HEADER.size
        (_, _, _, length) = HEADER.unpack_from(self._buffer, start)
        if length > self.max_payload:
            return 1
        return max(1, start + HEADER.size + length + CRC.size - len(self._buffer))

    def feed(self, data: bytes) -> list[Frame | CorruptFrame]:
        self._buffer += data
        events: list[Frame | CorruptFrame] = []
        while True:
            start = self._buffer.find(SYNC)
            if start < 0:
                # Keep a trailing first sync byte: its partner may be in the next piece.
                del self._buffer[: max(0, len(self._buffer) - 1)]
                return events
            del self._buffer[:start]
            if len(self._buffer) < HEADER.size:
                return events
            _, frame_type, seq, length = HEADER.unpack_from(self._buffer)
            if length > self.max_payload:
                events.append(CorruptFrame(f"length {length} over the limit of {self.max_payload}"))
                del self._buffer[:1]
                continue
            end = HEADER.size + length + CRC.size
            if len(self._buffer) < end:
                return events
            body = bytes(self._buffer[2 : HEADER.size + length])
            (crc,) = CRC.unpack_from(self._buffer, HEADER.size + length)
            if zlib.crc32(body) != crc:
                events.append(CorruptFrame(f"CRC mismatch in a frame of type 0x{frame_type:02x} seq {seq}"))
                del self._buffer[:1]
                continue
            events.append(Frame(frame_type, seq, body[4:]))
            del self._buffer[:end]
