"""Message types, error codes and payload layouts of the link: the Python twin of protocol.h
and of the payload writers in firmware/app/device_report.c.

Streamed inputs (protocol.h has the whole of it): an input whose arena offset in INFO is STREAMED_INPUT is not held
by the device; the host sends its bytes as INPUT frames after RUN_STARTED, in input order and offset order, each
after the last one's acknowledgement (the device acknowledges a frame once the model has read it and wants more).
RUN carries the CRC-32 of the held inputs (checked before the run), then the CRC-32 of the streamed inputs in order
(checked against the bytes the model read, in the order it read them: RESULT's status -ERR_INPUT_MISMATCH when
they differ) and the stream timeout in ms (no frame for that long: the model fails with -ERR_TIMEOUT)."""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass

from hil.model_sources import DTYPE_NAMES, TensorSpec

PROTOCOL_VERSION = 2  # 2: streamed inputs (INFO's input offsets, RUN's streamed CRC)

PING = 0x01
INFO = 0x02
INPUT = 0x03
RUN = 0x04
READ_OUTPUT = 0x06
STATS = 0x07
SET_BAUD = 0x08
REPLY = 0x80
RUN_STARTED = RUN | REPLY
RESULT = 0x85
ERROR = 0xFF

MESSAGE_NAMES = {
    PING: "PING",
    INFO: "INFO",
    INPUT: "INPUT",
    RUN: "RUN",
    READ_OUTPUT: "READ_OUTPUT",
    STATS: "STATS",
    SET_BAUD: "SET_BAUD",
    PING | REPLY: "PING reply",
    INFO | REPLY: "INFO reply",
    INPUT | REPLY: "INPUT ack",
    RUN_STARTED: "RUN_STARTED",
    READ_OUTPUT | REPLY: "READ_OUTPUT reply",
    STATS | REPLY: "STATS reply",
    SET_BAUD | REPLY: "SET_BAUD reply",
    RESULT: "RESULT",
    ERROR: "ERROR",
}

ERROR_NAMES = {
    0: "NONE",
    1: "BAD_CRC",
    2: "BAD_LENGTH",
    3: "UNKNOWN_TYPE",
    4: "BAD_ARGUMENT",
    5: "INPUT_MISMATCH",
    6: "MODEL_FAILED",
    7: "IO",
    8: "FAULT",
    9: "TIMEOUT",
    10: "NO_INPUT",
    11: "BUSY",
}
ERR_NONE = 0
ERR_BAD_CRC = 1
ERR_BAD_LENGTH = 2
ERR_UNKNOWN_TYPE = 3
ERR_BAD_ARGUMENT = 4
ERR_INPUT_MISMATCH = 5
ERR_MODEL_FAILED = 6
ERR_FAULT = 8
ERR_TIMEOUT = 9
ERR_NO_INPUT = 10
ERR_BUSY = 11

# An input's arena offset in INFO when the model reads it streamed (HIL_STREAMED_INPUT in hil_model.h).
STREAMED_INPUT = 0xFFFFFFFF
# Device default when RUN states no stream timeout (HIL_STREAM_TIMEOUT_MS in protocol.h).
STREAM_TIMEOUT_S = 10.0

TIMER_CORE_CYCLES = 0
TIMER_VIRTUAL_TICKS = 1

# Frame overhead a READ_OUTPUT reply spends before its data: u8 tensor, u32 offset.
READ_OUTPUT_HEADER_BYTES = 5
# How long the device keeps a new rate on trial without the host's commit (BAUD_TRIAL_MS in protocol.h).
BAUD_TRIAL_S = 0.5
# An INPUT request's bytes before its data: u8 tensor, u32 offset.
INPUT_HEADER_BYTES = 5


class PayloadError(ValueError):
    """A payload shorter than its layout, or with values out of range."""


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.position = 0
        self.what = what

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.position + size > len(self.data):
            raise PayloadError(f"{self.what} payload ends after {len(self.data)} bytes, inside a field")
        values = struct.unpack_from("<" + fmt, self.data, self.position)
        self.position += size
        return values

    def one(self, fmt: str):
        return self.take(fmt)[0]

    def string(self) -> str:
        n = self.one("B")
        return bytes(self.take(f"{n}s")[0]).decode("utf-8", errors="replace")

    def raw(self, n: int) -> bytes:
        return bytes(self.take(f"{n}s")[0])


def _tensor(reader: _Reader) -> TensorSpec:
    name = reader.string()
    dtype_code, rank = reader.take("BB")
    if dtype_code not in DTYPE_NAMES:
        raise PayloadError(f"INFO names dtype code {dtype_code} for tensor '{name}', expected one of {DTYPE_NAMES}")
    shape = reader.take(f"{rank}I")
    scale, zero_point = reader.take("fi")
    return TensorSpec(name, DTYPE_NAMES[dtype_code], tuple(shape), float(scale), zero_point)


@dataclass(frozen=True)
class DeviceInfo:
    """What the firmware says about itself."""

    protocol_version: int
    max_payload: int
    core_clock_hz: int
    timer_hz: int
    timer_kind: int
    board_flags: int
    arena_bytes: int
    stack_bytes: int
    io_buffer_bytes: int
    firmware_version: str
    board: str
    model_name: str
    model_hash: str
    build_flags: str
    transport: str
    build_id: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    input_offsets: tuple[int, ...] = ()  # each input's arena offset; STREAMED_INPUT: sent after RUN_STARTED

    @property
    def streamed_inputs(self) -> tuple[int, ...]:
        """The indices of the inputs the host streams during RUN instead of sending before it."""
        return tuple(i for i, offset in enumerate(self.input_offsets) if offset == STREAMED_INPUT)

    @property
    def emulated(self) -> bool:
        return self.timer_kind == TIMER_VIRTUAL_TICKS

    @property
    def clock_fallback(self) -> bool:
        return bool(self.board_flags & 0x1)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_info(payload: bytes) -> DeviceInfo:
    r = _Reader(payload, "INFO")
    version, max_payload = r.take("HH")
    if version != PROTOCOL_VERSION:
        raise PayloadError(f"firmware speaks protocol version {version}, this host speaks {PROTOCOL_VERSION}")
    core_clock, timer_hz, timer_kind, flags, arena, stack, io = r.take("IIBIIII")
    texts = [r.string() for _ in range(6)]
    build_id = r.raw(r.one("B")).hex()
    inputs = tuple(_tensor(r) for _ in range(r.one("B")))
    outputs = tuple(_tensor(r) for _ in range(r.one("B")))
    offsets = r.take(f"{len(inputs)}I")
    return DeviceInfo(
        version,
        max_payload,
        core_clock,
        timer_hz,
        timer_kind,
        flags,
        arena,
        stack,
        io,
        *texts,
        build_id,
        inputs,
        outputs,
        tuple(offsets),
    )


@dataclass(frozen=True)
class InferenceTiming:
    """The time one inference took, in the units the target can measure, labelled honestly."""

    ticks: int
    timer_hz: int
    timer_kind: int

    @property
    def silicon(self) -> bool:
        return self.timer_kind == TIMER_CORE_CYCLES

    @property
    def seconds(self) -> float:
        """Silicon seconds on a board; virtual seconds under an emulator."""
        return self.ticks / self.timer_hz

    @property
    def cycles(self) -> int | None:
        return self.ticks if self.silicon else None

    @property
    def instructions(self) -> int | None:
        """Under QEMU -icount shift=0 one instruction takes 1 ns of virtual time."""
        return None if self.silicon else round(self.ticks * 1e9 / self.timer_hz)

    @property
    def label(self) -> str:
        if self.silicon:
            return f"{self.ticks:,} cycles ({self.seconds * 1e3:.3f} ms on silicon)"
        return f"{self.instructions:,} instructions (emulator virtual time under -icount, not silicon time)"

    def to_dict(self) -> dict:
        return {
            "ticks": self.ticks,
            "timer_hz": self.timer_hz,
            "kind": "cycles" if self.silicon else "virtual",
            "cycles": self.cycles,
            "instructions": self.instructions,
            "seconds": self.seconds,
            "label": self.label,
        }


@dataclass(frozen=True)
class RunSummary:
    """The RESULT payload: status, timing and, per output, its size and CRC-32."""

    status: int
    timing: InferenceTiming
    stack_high_water: int
    inference_count: int
    output_sizes: tuple[int, ...]
    output_crcs: tuple[int, ...]


def parse_result(payload: bytes) -> RunSummary:
    r = _Reader(payload, "RESULT")
    status, timer_kind, timer_hz, ticks, stack, count, n_outputs = r.take("iBIQIIB")
    pairs = [r.take("II") for _ in range(n_outputs)]
    return RunSummary(
        status,
        InferenceTiming(ticks, timer_hz, timer_kind),
        stack,
        count,
        tuple(p[0] for p in pairs),
        tuple(p[1] for p in pairs),
    )


@dataclass(frozen=True)
class DeviceStats:
    stack_high_water: int
    stack_bytes: int
    arena_bytes: int
    io_buffer_bytes: int
    inference_count: int
    rx_bad_crc: int
    rx_bad_length: int
    rx_timeouts: int

    def to_dict(self) -> dict:
        return asdict(self)


def parse_stats(payload: bytes) -> DeviceStats:
    return DeviceStats(*_Reader(payload, "STATS").take("8I"))


@dataclass(frozen=True)
class ErrorReply:
    code: int
    request_type: int
    text: str

    @property
    def code_name(self) -> str:
        return ERROR_NAMES.get(self.code, f"UNKNOWN_{self.code}")


def parse_error(payload: bytes) -> ErrorReply:
    r = _Reader(payload, "ERROR")
    code, request_type = r.take("BB")
    return ErrorReply(code, request_type, payload[2:].decode("utf-8", errors="replace"))
