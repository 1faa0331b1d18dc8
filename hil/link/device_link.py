"""DeviceLink: requests and replies over a pyserial port (serial:// or socket://), with timeouts,
resends and end-to-end CRC checks of everything that crosses the link."""

from __future__ import annotations

import logging
import struct
import time
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import serial

from hil.errors import DeviceError, LinkError
from hil.link import messages as msg
from hil.link.frame import CRC, DEFAULT_MAX_PAYLOAD, HEADER, CorruptFrame, Frame, FrameDecoder, encode_frame
from hil.link.port_holders import local_socket_port, port_holders, socket_clients

# A read blocks at most this long, so a deadline is never overshot by much.
READ_SLICE_S = 0.2
# Data frames (INPUT, READ_OUTPUT) shrink to this many payload bytes on a noisy link: at 1 % of bytes damaged
# both ways a 2 KB frame arrives intact with probability ~1e-9, a 32-byte one about half the time.
MIN_DATA_CHUNK = 32
CLEAN_TRANSACTIONS_TO_GROW = 8
# On a link that is damaging frames, a request is sent up to this many times the configured attempts.
NOISY_ATTEMPTS_FACTOR = 4
BACKOFF_S = (0.0, 0.005, 0.01, 0.02, 0.05)
# Replies are waited for as TCP waits for acknowledgements (RFC 6298, Karn's rule): the smoothed round trip of
# requests answered at the first attempt, times RTO_FACTOR, at least RTO_FLOOR_S, doubled on every resend and
# never more than reply_timeout, which the last attempt always gets. On a noisy link most lost frames are then
# resent after a few round trips instead of after reply_timeout.
# A streamed input's frame is acknowledged only when the model wants the bytes after it, so its round trip includes
# the model's compute on it: those replies keep an estimate of their own (STREAM_ACK). Timed with the quick replies'
# estimate they would be resent while the device computes, and a board's polled UART drops what arrives then.
REPLY, STREAM_ACK = "reply", "stream_ack"
RTO_FACTOR = 4.0
RTO_FLOOR_S = 0.1
RTT_SMOOTHING = 0.125
# The stream timeout a RUN states when the link has none of its own: a live host, resending, is never silent longer
# than one reply timeout plus a back-off, so the device waits this many reply timeouts plus STREAM_TIMEOUT_MARGIN_S.
STREAM_TIMEOUT_REPLIES = 2
STREAM_TIMEOUT_MARGIN_S = 1.0
# While a run's input streams, a resend first lets this long of bytes in (a frame in flight, the run's RESULT behind
# a lost reply, takes a few ms at 115,200 baud) before it drops what it received.
IN_FLIGHT_S = 0.05
LOG = logging.getLogger(__name__)  # hil.link.device_link: frames at DEBUG, resends, INFO and timings at INFO


def open_port(url: str, baud: int, timeout: float = READ_SLICE_S) -> serial.SerialBase:
    """Opens a serial device path or a pyserial URL (socket://host:port, rfc2217://, loop://). A device path, or
    a local socket, another program holds is refused, naming the program: frames written into a terminal's port
    are lost, and a one-client server never answers a second client."""
    device = "://" not in url
    if device:
        holders = port_holders(url)
        if holders:
            raise LinkError(f"port {url} is held by {', '.join(holders)}: close it, then run again")
    try:
        if device:
            return serial.serial_for_url(url, baudrate=baud, timeout=timeout, exclusive=True)
        port = serial.serial_for_url(url, baudrate=baud, timeout=timeout)
    except (serial.SerialException, ValueError) as e:
        raise LinkError(f"cannot open port {url} at {baud} baud: {e}") from e
    # A local server that serves one client (QEMU's UART socket) accepts a second connection into its backlog
    # and never answers it: name the client that holds it instead of waiting for INFO.
    server_port = local_socket_port(url)
    clients = socket_clients(server_port) if server_port is not None else []
    if clients:
        port.close()
        raise LinkError(f"{url} is held by another client, {', '.join(clients)}: close it, then run again")
    return port


@dataclass
class LinkCounters:
    """What the host saw go wrong; a clean link has all zeros."""

    timeouts: int = 0
    corrupt_frames: int = 0
    device_rejected: int = 0
    resends: int = 0
    stale_replies: int = 0
    frames_sent: int = 0
    requests: int = 0
    requests_failed: int = 0
    # Data requests given up after a failed attempt because the shrunk data chunk no longer holds their frame:
    # asked again, smaller, as new requests, so not counted in requests (the data they carry is one operation).
    requests_resized: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def inputs_crc(inputs: Sequence[bytes]) -> int:
    """The CRC-32 of inputs in order, as RUN carries it (for the inputs the device holds, and for the streamed)."""
    crc = 0
    for data in inputs:
        crc = zlib.crc32(data, crc)
    return crc


class _Resized(Exception):
    """A data request given up after a failed attempt: the data chunk has shrunk below the frame it moves."""


class _RunEnded(Exception):
    """The RESULT of the run in progress arrived while its streamed input was still being sent."""

    def __init__(self, result: Frame) -> None:
        super().__init__("RESULT during the stream")
        self.result = result


@dataclass(frozen=True)
class InferenceOutcome:
    """One inference as the device reported it, with every output's bytes checked against its CRC."""

    summary: msg.RunSummary
    outputs: tuple[bytes, ...]


@dataclass
class DeviceLink:
    """The host end of the link to one device."""

    port: serial.SerialBase
    name: str
    reply_timeout: float = 2.0
    attempts: int = 5
    max_payload: int = DEFAULT_MAX_PAYLOAD
    counters: LinkCounters = field(default_factory=LinkCounters)
    # Seconds the device waits for the next frame of a streamed input before the run fails with TIMEOUT (stated in
    # every RUN); None: STREAM_TIMEOUT_REPLIES reply timeouts plus STREAM_TIMEOUT_MARGIN_S.
    stream_timeout: float | None = None

    def __post_init__(self) -> None:
        self._decoder = FrameDecoder(self.max_payload)
        # Frames decoded but not yet consumed: one read may carry a reply and the next (RUN_STARTED and RESULT).
        self._events: deque[Frame | CorruptFrame] = deque()
        self._seq = 0
        self._chunk = self.max_payload
        self._clean_in_a_row = 0
        self._srtt: dict[str, float] = {}
        # Inputs the device's model reads streamed (INFO's arena offsets): sent after RUN_STARTED, not before RUN.
        self.streamed: tuple[int, ...] = ()
        self._last_run_seq: int | None = None
        # While a RUN's input streams: its seq, so its RESULT ends the stream wherever it arrives.
        self._run_watch: int | None = None

    def _wait_for(self, timeout: float, attempt: int, attempts: int, kind: str) -> float:
        """How long this attempt waits for a reply of this kind the caller would wait `timeout` for."""
        srtt = self._srtt.get(kind)
        if srtt is None or timeout != self.reply_timeout or attempt == attempts - 1:
            return timeout
        return min(timeout, max(RTO_FLOOR_S, RTO_FACTOR * srtt) * 2**attempt)

    def _sample_round_trip(self, seconds: float, kind: str) -> None:
        srtt = self._srtt.get(kind)
        self._srtt[kind] = seconds if srtt is None else (1 - RTT_SMOOTHING) * srtt + RTT_SMOOTHING * seconds

    @property
    def data_chunk(self) -> int:
        """Payload bytes the next data frame carries: the device's maximum on a clean link, less on a noisy one."""
        return self._chunk

    def _adapt(self, attempts_used: int) -> None:
        """Halves the data frames after a request that needed resending; doubles them back after a run of
        requests that went through at once."""
        if attempts_used > 1:
            self._chunk = max(MIN_DATA_CHUNK, self._chunk // 2)
            self._clean_in_a_row = 0
            return
        self._clean_in_a_row += 1
        if self._clean_in_a_row >= CLEAN_TRANSACTIONS_TO_GROW and self._chunk < self.max_payload:
            self._chunk = min(self.max_payload, self._chunk * 2)
            self._clean_in_a_row = 0

    def close(self) -> None:
        self.port.close()

    def _send(self, frame_type: int, seq: int, payload: bytes) -> None:
        self.counters.frames_sent += 1
        try:
            self.port.write(encode_frame(frame_type, seq, payload))
            self.port.flush()
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"{self.name}: cannot write to the port: {e}") from e

    def _read_some(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b""
        try:
            self.port.timeout = min(remaining, READ_SLICE_S)
            n = max(1, self.port.in_waiting, self._decoder.bytes_needed())
            return self.port.read(n)
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"{self.name}: the port closed while waiting for a reply ({e})") from e

    def _await(self, request: int, seq: int, expected: int, deadline: float) -> Frame | str:
        """The expected reply, or a short word saying why the request must be sent again."""
        while True:
            if not self._events:
                data = self._read_some(deadline)
                if not data:
                    if time.monotonic() >= deadline:
                        return "timeout"
                    continue
                self._events.extend(self._decoder.feed(data))
            while self._events:
                event = self._events.popleft()
                if isinstance(event, CorruptFrame):
                    self.counters.corrupt_frames += 1
                    return "corrupt"
                if event.type == msg.RESULT and event.seq == self._run_watch:
                    raise _RunEnded(event)
                error = msg.parse_error(event.payload) if event.type == msg.ERROR else None
                # A fault report ends the device's session whatever request it answers.
                if error and error.code == msg.ERR_FAULT:
                    raise self._device_error(error, request)
                if event.seq != seq:
                    self.counters.stale_replies += 1
                    continue
                if error and error.code in (msg.ERR_BAD_CRC, msg.ERR_BAD_LENGTH):
                    self.counters.device_rejected += 1
                    return "rejected"
                if error:
                    raise self._device_error(error, request)
                if event.type == expected:
                    return event
                self.counters.stale_replies += 1

    def _reset_decoder(self, max_payload: int) -> None:
        """Drops every byte and frame received but not consumed (except a streamed run's RESULT: _keep_run_result)."""
        self._keep_run_result()
        self._decoder = FrameDecoder(max_payload)
        self._events.clear()

    def _keep_run_result(self, data: bytes = b"") -> None:
        """While a run's input streams, its RESULT may already wait behind a reply that was lost or damaged (the
        stream's last acknowledgement, say): it ends the stream (_RunEnded) instead of being dropped with that
        reply, which would leave the host waiting out the whole run timeout for a RESULT the device sent."""
        if self._run_watch is None:
            return
        events = [*self._events, *(self._decoder.feed(data) if data else ())]
        for event in events:
            if isinstance(event, Frame) and event.type == msg.RESULT and event.seq == self._run_watch:
                raise _RunEnded(event)

    def _device_error(self, error: msg.ErrorReply, request: int) -> DeviceError:
        return DeviceError(
            error.code, error.code_name, msg.MESSAGE_NAMES.get(request, hex(request)), error.text, self.name
        )

    def transact(
        self,
        request: int,
        payload: bytes,
        stages: list[tuple[int, float]],
        data_bytes: int | None = None,
        resume_seq: int | None = None,
        kind: str = REPLY,
    ) -> list[Frame]:
        """Sends a request and waits for each expected reply in turn, resending the whole request
        (same seq, so the device can tell a resend) after a timeout, a corrupt frame or a rejection.

        A data request names the data frame's payload bytes it moves (data_bytes): once a failed attempt has shrunk
        the data chunk below them, resending the same frame would mostly fail as it did (at 1 % of bytes damaged a
        2 KB frame never arrives whole), so _Resized tells the caller to ask again in pieces of the new size.

        resume_seq: the request went out already with that seq (a RUN whose input streamed): the first attempt
        only waits, the resends repeat it.
        kind: whose round-trip estimate times the replies (REPLY, or STREAM_ACK for a streamed input's frames)."""
        if resume_seq is None:
            self._seq = (self._seq + 1) & 0xFF
        seq = self._seq if resume_seq is None else resume_seq
        reasons: list[str] = []
        name = msg.MESSAGE_NAMES.get(request, hex(request))
        attempts = self.attempts * (NOISY_ATTEMPTS_FACTOR if self._chunk < self.max_payload else 1)
        self.counters.requests += 1
        for attempt in range(attempts):
            if attempt:
                self.counters.resends += 1
                LOG.info(
                    "%s: resending %s seq %d (attempt %d) after: %s", self.name, name, seq, attempt + 1, reasons[-1]
                )
                # Back off a little, then drop what is left of a damaged reply, so the resend starts clean.
                time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                self._resynchronise(fill=reasons[-2:] == ["timeout", "timeout"])
            if attempt or resume_seq is None:
                LOG.debug("%s: -> %s seq %d, %d B", self.name, name, seq, len(payload))
                self._send(request, seq, payload)
            sent = time.monotonic()
            replies: list[Frame] = []
            for expected, timeout in stages:
                wait = self._wait_for(timeout, attempt, attempts, kind)
                outcome = self._await(request, seq, expected, time.monotonic() + wait)
                if isinstance(outcome, str):
                    reasons.append(outcome)
                    if outcome == "timeout":
                        self.counters.timeouts += 1
                        self._reset_decoder(self.max_payload)
                    break
                replies.append(outcome)
                LOG.debug(
                    "%s: <- %s seq %d, %d B",
                    self.name,
                    msg.MESSAGE_NAMES.get(outcome.type, hex(outcome.type)),
                    seq,
                    len(outcome.payload),
                )
            else:
                if attempt == 0 and len(stages) == 1 and resume_seq is None:
                    self._sample_round_trip(time.monotonic() - sent, kind)
                self._adapt(attempt + 1)
                return replies
            self._adapt(attempt + 2)
            if data_bytes is not None and data_bytes > self._chunk:
                self.counters.requests -= 1
                self.counters.requests_resized += 1
                raise _Resized
        self.counters.requests_failed += 1
        expected_names = " then ".join(msg.MESSAGE_NAMES.get(t, hex(t)) for t, _ in stages)
        raise LinkError(
            f"{self.name}: no valid reply to {name} (seq {seq}) after {attempts} attempts "
            f"({', '.join(reasons)}); expected {expected_names}, each within "
            f"{', '.join(f'{t:g} s' for _, t in stages)}"
        )

    def _resynchronise(self, fill: bool) -> None:
        """Forgets bytes of replies that arrived damaged: the next frame is looked for from scratch.

        With fill (after a second timeout in a row: one alone is likelier a lost sync byte), the host first
        completes any frame the device may still be receiving. A damaged length field makes the device wait for
        up to a whole frame more, swallowing the resends; a device that never times that frame out waits for
        ever (the rtt build under QEMU: the host halts it between bytes and its clock stands still). Zeros hold
        no sync byte even with a bit flipped, so the swallowed frame fails its CRC and the device rescans what
        it swallowed."""
        if fill:
            try:
                self.port.write(bytes(HEADER.size + self.max_payload + CRC.size))
                self.port.flush()
            except (serial.SerialException, OSError) as e:
                raise LinkError(f"{self.name}: cannot write to the port: {e}") from e
        if self._run_watch is not None:
            deadline = time.monotonic() + IN_FLIGHT_S
            while data := self._read_some(deadline):
                self._keep_run_result(data)
        try:
            self.port.reset_input_buffer()
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"{self.name}: the port closed while resynchronising ({e})") from e
        self._reset_decoder(self.max_payload)

    def _simple(self, request: int, payload: bytes = b"", data_bytes: int | None = None, kind: str = REPLY) -> bytes:
        stages = [(request | msg.REPLY, self.reply_timeout)]
        return self.transact(request, payload, stages, data_bytes, kind=kind)[0].payload

    def ping(self, data: bytes = b"hil") -> float:
        """Round-trip time of one PING in seconds; the echo is checked."""
        start = time.monotonic()
        echo = self._simple(msg.PING, data)
        if echo != data:
            raise LinkError(f"{self.name}: PING echoed {echo!r}, expected {data!r}")
        return time.monotonic() - start

    def info(self) -> msg.DeviceInfo:
        info = msg.parse_info(self._simple(msg.INFO))
        LOG.info("%s: INFO %s", self.name, info)
        if info.max_payload != self.max_payload:
            self.max_payload = info.max_payload
            self._chunk = min(self._chunk, info.max_payload)
            self._reset_decoder(info.max_payload)
        self.streamed = info.streamed_inputs
        return info

    def set_baud(self, baud: int) -> None:
        """SET_BAUD, at the port's present rate: the device answers, then tries baud (see hil.link.baud)."""
        request = struct.pack("<I", baud)
        echo = self._simple(msg.SET_BAUD, request)
        if echo != request:
            raise LinkError(f"{self.name}: SET_BAUD {baud} answered as {echo.hex()}")

    def move_port(self, baud: int) -> None:
        """The host's end of a rate change (a no-op on a socket to an emulator, whose UART ignores rates).
        Whatever arrived around the change was read at the wrong rate: it is dropped."""
        try:
            self.port.baudrate = baud
        except (serial.SerialException, ValueError) as e:
            raise LinkError(f"{self.name}: the port cannot run at {baud} baud: {e}") from e
        self._resynchronise(fill=False)

    def stats(self) -> msg.DeviceStats:
        return msg.parse_stats(self._simple(msg.STATS))

    def write_input(self, index: int, data: bytes) -> None:
        """Sends one input tensor in acknowledged chunks; the device takes one frame at a time."""
        if index in self.streamed:
            raise LinkError(f"{self.name}: input {index} is streamed: it goes with RUN (run(..., streams=...))")
        self._send_input(index, data)

    def _send_input(self, index: int, data: bytes, last_of_run: bool = False) -> None:
        """INPUT frames in offset order, each sent once the last is acknowledged. last_of_run: the stream's last
        input, whose last acknowledgement may be lost while the model runs on; its RESULT confirms it instead."""
        offset = 0
        while offset < len(data):
            piece = data[offset : offset + self._chunk - msg.INPUT_HEADER_BYTES]
            payload = bytes([index]) + offset.to_bytes(4, "little") + piece
            try:
                ack = self._simple(msg.INPUT, payload, len(payload), STREAM_ACK if index in self.streamed else REPLY)
            except _Resized:
                continue
            except LinkError:
                if last_of_run and offset + len(piece) == len(data):
                    LOG.info("%s: no acknowledgement of the stream's last INPUT: waiting for RESULT", self.name)
                    return
                raise
            if ack != bytes([index]) + offset.to_bytes(4, "little") + len(piece).to_bytes(4, "little"):
                raise LinkError(f"{self.name}: INPUT chunk at offset {offset} acknowledged as {ack.hex()}")
            offset += len(piece)

    def split_inputs(self, inputs: Sequence[bytes]) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
        """(index, bytes) of the inputs the device holds (sent before RUN) and of those it streams (during RUN)."""
        held = [(i, data) for i, data in enumerate(inputs) if i not in self.streamed]
        streams = [(i, data) for i, data in enumerate(inputs) if i in self.streamed]
        return held, streams

    def _next_run_seq(self) -> None:
        """Keeps the next RUN off the last one's seq, which the device would take for a resend and answer from its
        cache (256 requests later, with no INPUT between to clear it: a streamed model's reruns)."""
        if (self._seq + 1) & 0xFF == self._last_run_seq:
            self._seq = (self._seq + 1) & 0xFF

    def run(
        self,
        input_crc: int,
        run_timeout: float,
        streams: Sequence[tuple[int, bytes]] = (),
        streamed_crc: int | None = None,
    ) -> msg.RunSummary:
        """RUN on the held inputs whose CRC-32 is input_crc; a model with streamed inputs gets streams, (index,
        bytes) of each, sent after RUN_STARTED. streamed_crc (a test's lie) replaces the CRC-32 of the streams."""
        named = tuple(i for i, _ in streams)
        if named != self.streamed:
            raise LinkError(f"{self.name}: the device streams inputs {self.streamed}, RUN was given {named}")
        self._next_run_seq()
        if not streams:
            stages = [(msg.RUN_STARTED, self.reply_timeout), (msg.RESULT, run_timeout)]
            replies = self.transact(msg.RUN, input_crc.to_bytes(4, "little"), stages)
            self._last_run_seq = replies[0].seq
            return msg.parse_result(replies[1].payload)
        if streamed_crc is None:
            streamed_crc = inputs_crc([data for _, data in streams])
        timeout = self.stream_timeout
        if timeout is None:
            timeout = STREAM_TIMEOUT_REPLIES * self.reply_timeout + STREAM_TIMEOUT_MARGIN_S
        payload = struct.pack("<III", input_crc, streamed_crc, max(1, round(timeout * 1000)))
        seq = self.transact(msg.RUN, payload, [(msg.RUN_STARTED, self.reply_timeout)])[0].seq
        self._last_run_seq = seq
        self._run_watch = seq
        try:
            for n, (index, data) in enumerate(streams):
                self._send_input(index, data, last_of_run=n == len(streams) - 1)
            self._run_watch = None
            result = self.transact(msg.RUN, payload, [(msg.RESULT, run_timeout)], resume_seq=seq)[0]
        except _RunEnded as ended:
            LOG.info("%s: RESULT of RUN seq %d arrived before its stream ended", self.name, seq)
            result = ended.result
        finally:
            self._run_watch = None
        return msg.parse_result(result.payload)

    def read_output(self, index: int, size: int, crc: int) -> bytes:
        """Reads one output tensor in chunks and checks it against the CRC the device computed."""
        for _ in range(self.attempts):
            data = bytearray()
            while len(data) < size:
                offset = len(data)
                n = min(self._chunk - msg.READ_OUTPUT_HEADER_BYTES, size - offset)
                request = bytes([index]) + offset.to_bytes(4, "little") + n.to_bytes(2, "little")
                try:
                    reply = self._simple(msg.READ_OUTPUT, request, data_bytes=msg.READ_OUTPUT_HEADER_BYTES + n)
                except _Resized:
                    continue
                if reply[:5] != request[:5] or len(reply) != 5 + n:
                    raise LinkError(f"{self.name}: READ_OUTPUT at {offset} answered for another range")
                data += reply[5:]
            if zlib.crc32(data) == crc:
                return bytes(data)
            self.counters.corrupt_frames += 1
        raise LinkError(f"{self.name}: output {index} never matched the device's CRC 0x{crc:08x}")

    def run_failure(self, status: int) -> DeviceError:
        """The error a RESULT's non-zero status stands for: the stream's TIMEOUT or INPUT_MISMATCH, else
        MODEL_FAILED."""
        if status == -msg.ERR_TIMEOUT:
            text = "no frame of the streamed input reached the device within the RUN's stream timeout"
        elif status == -msg.ERR_INPUT_MISMATCH:
            text = "the streamed input the model read differs from what the host sent (CRC-32)"
        else:
            return DeviceError(msg.ERR_MODEL_FAILED, "MODEL_FAILED", "RUN", f"model_run returned {status}", self.name)
        return DeviceError(-status, msg.ERROR_NAMES[-status], "RUN", f"RESULT status {status}: {text}", self.name)

    def infer(self, inputs: list[bytes], run_timeout: float) -> InferenceOutcome:
        """Streams the inputs in, runs once, and reads every output back."""
        held, streams = self.split_inputs(inputs)
        for index, data in held:
            self.write_input(index, data)
        summary = self.run(inputs_crc([data for _, data in held]), run_timeout, streams)
        if summary.status != 0:
            raise self.run_failure(summary.status)
        outputs = tuple(
            self.read_output(i, size, c)
            for i, (size, c) in enumerate(zip(summary.output_sizes, summary.output_crcs, strict=True))
        )
        LOG.info(
            "%s: inference %s, stack high-water %d B; link so far %s",
            self.name,
            summary.timing.label,
            summary.stack_high_water,
            self.counters.to_dict(),
        )
        return InferenceOutcome(summary, outputs)
