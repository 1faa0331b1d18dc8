"""The host's frame codec: round trips, resynchronisation, and rejection of damaged frames."""

from __future__ import annotations

import random
import zlib

import pytest

from hil.link.frame import CorruptFrame, Frame, FrameDecoder, encode_frame


def test_frame_layout_is_sync_type_seq_length_payload_crc():
    data = encode_frame(0x02, 7, b"abc")
    assert data[:2] == b"\xa5\x5a"
    assert data[2:6] == bytes([0x02, 7, 3, 0])
    assert data[6:9] == b"abc"
    assert int.from_bytes(data[9:], "little") == zlib.crc32(bytes([0x02, 7, 3, 0]) + b"abc")


def test_frames_survive_any_split_of_the_stream():
    frames = [Frame(t, s, bytes(range(n))) for t, s, n in [(1, 1, 0), (0x81, 2, 200), (0x85, 255, 7)]]
    stream = b"".join(encode_frame(f.type, f.seq, f.payload) for f in frames)
    rng = random.Random(3)
    for _ in range(50):
        decoder, events, position = FrameDecoder(), [], 0
        while position < len(stream):
            step = rng.randint(1, 40)
            events += decoder.feed(stream[position : position + step])
            position += step
        assert events == frames


def test_garbage_before_a_frame_is_skipped():
    assert FrameDecoder().feed(b"\x00\xa5\x11\xa5" + encode_frame(3, 4, b"x")) == [Frame(3, 4, b"x")]


def test_a_corrupt_frame_is_reported_and_the_next_one_still_decodes():
    bad = bytearray(encode_frame(1, 1, b"hello"))
    bad[7] ^= 0x40
    events = FrameDecoder().feed(bytes(bad) + encode_frame(1, 2, b"world"))
    assert isinstance(events[0], CorruptFrame) and "CRC" in events[0].reason
    assert events[-1] == Frame(1, 2, b"world")


def test_a_truncated_frame_does_not_swallow_the_frame_after_it():
    truncated = encode_frame(1, 1, b"0123456789")[:-6]
    events = FrameDecoder().feed(truncated + encode_frame(1, 2, b"ok"))
    assert Frame(1, 2, b"ok") in events
    assert Frame(1, 1, b"0123456789") not in events


def test_a_length_over_the_limit_is_rejected_at_once():
    decoder = FrameDecoder(max_payload=16)
    events = decoder.feed(encode_frame(1, 1, bytes(17)))
    assert isinstance(events[0], CorruptFrame) and "over the limit" in events[0].reason


def test_bytes_needed_asks_for_exactly_the_rest_of_a_frame():
    decoder = FrameDecoder()
    data = encode_frame(1, 1, bytes(100))
    assert decoder.bytes_needed() == 6
    decoder.feed(data[:10])
    assert decoder.bytes_needed() == len(data) - 10


def test_oversized_payload_cannot_be_encoded():
    with pytest.raises(ValueError, match="does not fit"):
        encode_frame(1, 1, bytes(70000))
