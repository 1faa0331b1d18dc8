"""DeviceLink's data frames on a link that damages every frame above a size: a data request whose frame the
shrunk chunk no longer holds is asked again in smaller pieces (a new request), instead of resending a frame that
cannot arrive whole until its attempts run out. A fake device in the test stands in for the firmware."""

from __future__ import annotations

import zlib

from hil.link import messages as msg
from hil.link.device_link import DeviceLink
from hil.link.frame import Frame, FrameDecoder, encode_frame

DAMAGED_ABOVE = 300  # payload bytes: a longer frame always reaches the device with its CRC broken


class LossyDevice:
    """The part of a serial port DeviceLink uses, answering INPUT and READ_OUTPUT as the firmware does; a frame
    longer than DAMAGED_ABOVE either way arrives damaged."""

    def __init__(self) -> None:
        self.timeout: float | None = None
        self.decoder = FrameDecoder()
        self.replies = bytearray()
        self.tensor = bytearray()

    @property
    def in_waiting(self) -> int:
        return len(self.replies)

    def write(self, data: bytes) -> int:
        for frame in self.decoder.feed(data):
            assert isinstance(frame, Frame)
            self.replies += self._answer(frame)
        return len(data)

    def _answer(self, frame: Frame) -> bytes:
        if len(frame.payload) > DAMAGED_ABOVE:
            return encode_frame(msg.ERROR, frame.seq, bytes([msg.ERR_BAD_CRC, frame.type]) + b"frame CRC mismatch")
        offset = int.from_bytes(frame.payload[1:5], "little")
        if frame.type == msg.READ_OUTPUT:
            n = int.from_bytes(frame.payload[5:7], "little")
            payload = frame.payload[:5] + self.tensor[offset : offset + n]
            reply = encode_frame(frame.type | msg.REPLY, frame.seq, payload)
            return reply if len(payload) <= DAMAGED_ABOVE else reply[:-1] + bytes([reply[-1] ^ 1])
        piece = frame.payload[5:]
        self.tensor[offset : offset + len(piece)] = piece
        return encode_frame(msg.INPUT | msg.REPLY, frame.seq, frame.payload[:5] + len(piece).to_bytes(4, "little"))

    def read(self, size: int = 1) -> bytes:
        data = bytes(self.replies[:size])
        del self.replies[:size]
        return data

    def flush(self) -> None:
        """Replies are ready as soon as a request is written."""

    def reset_input_buffer(self) -> None:
        self.replies.clear()

    def close(self) -> None:
        """Nothing to free."""


def test_a_data_frame_too_long_for_the_link_is_asked_again_in_smaller_pieces() -> None:
    device = LossyDevice()
    link = DeviceLink(device, "lossy", reply_timeout=0.5, attempts=2)
    data = bytes(range(256)) * 20
    link.write_input(0, data)
    assert bytes(device.tensor) == data
    counters = link.counters
    # 2048 -> 1024 -> 512 -> 256 B, and 512 again each time 8 clean requests grow the chunk: every frame the
    # device rejected was sent once, the data in it asked again smaller, never resent as it was.
    assert counters.requests_resized == counters.device_rejected >= 3
    assert counters.resends == 0 and counters.requests_failed == 0
    assert link.data_chunk == 256


def test_a_data_reply_too_long_for_the_link_is_asked_for_again_in_smaller_pieces() -> None:
    device = LossyDevice()
    device.tensor[:] = bytes(range(256)) * 20
    link = DeviceLink(device, "lossy", reply_timeout=0.5, attempts=2)
    data = link.read_output(0, len(device.tensor), zlib.crc32(device.tensor))
    assert data == device.tensor
    counters = link.counters
    assert counters.requests_resized == counters.corrupt_frames >= 3
    assert counters.resends == 0 and counters.requests_failed == 0
