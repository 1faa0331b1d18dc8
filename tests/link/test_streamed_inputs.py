"""Streamed inputs over the framed link (protocol.h): a model that reads its input through hil_input_read while it
runs, the host sending the input's INPUT frames after RUN_STARTED. Real firmware under QEMU, real frames over the
UART socket (also through the fault proxy) and the rtt rings."""

from __future__ import annotations

import time
import zlib

import pytest

from hil import streamed_test_model as streamed_model
from hil.bench.link_noise import first_info, noisy_link
from hil.build.firmware_builder import BuildRequest
from hil.errors import DeviceError, LinkError
from hil.link import messages as msg
from hil.link.device_link import DeviceLink
from hil.link.fault_proxy import FaultRates
from hil.link.frame import Frame, FrameDecoder, encode_frame
from hil.targets.qemu import QemuSemihostingTarget, QemuUartTarget
from hil.targets.qemu_rtt import QemuRttTarget
from tests.targets.test_led_during_inference import LED_WRITE

# Spin iterations per byte read for the computing model: about 0.3 s of QEMU per 2 KB frame.
WORK_PER_BYTE = 10_000


@pytest.fixture(scope="session")
def streamed_sources(tmp_path_factory: pytest.TempPathFactory):
    return streamed_model.write_streamed_model(tmp_path_factory.mktemp("streamed") / streamed_model.NAME)


@pytest.fixture(scope="session")
def streamed_uart(builder, qemu_board, streamed_sources):
    return builder.build(BuildRequest(qemu_board, streamed_sources, "uart"))


@pytest.fixture
def uart_target(qemu_board, streamed_uart, workdir):
    with QemuUartTarget(qemu_board, streamed_uart.elf, workdir, reply_timeout=1.0, run_timeout=30.0) as target:
        yield target


def _assert_exact(outputs: tuple[bytes, ...], inputs: list[bytes]) -> None:
    assert outputs == streamed_model.reference(*inputs)


def test_info_says_which_inputs_are_streamed(uart_target):
    info = uart_target.info
    assert info.inputs == (streamed_model.X, streamed_model.K)
    assert info.input_offsets == (msg.STREAMED_INPUT, 0) and info.streamed_inputs == (0,)
    assert uart_target.link.streamed == (0,)


@pytest.mark.parametrize("transport", ["uart", "rtt"])
def test_a_streamed_input_runs_bit_exact(transport, builder, qemu_board, streamed_sources, workdir):
    image = builder.build(BuildRequest(qemu_board, streamed_sources, transport))
    kind = QemuUartTarget if transport == "uart" else QemuRttTarget
    with kind(qemu_board, image.elf, workdir, reply_timeout=1.0, run_timeout=30.0) as target:
        for seed in (1, 2):
            inputs = streamed_model.random_inputs(seed)
            outcome = target.infer(inputs)
            _assert_exact(outcome.outputs, inputs)
        # A rerun streams the input again (the device never held it); the held input k is still on the device.
        again = target.rerun()
        assert again.status == 0 and again.output_crcs == outcome.summary.output_crcs
        assert target.link.counters.requests_failed == 0
        assert target.link.stats().inference_count == 3


def test_held_inputs_cannot_be_sent_as_a_stream_nor_streamed_ones_before_run(uart_target):
    with pytest.raises(LinkError, match="input 0 is streamed"):
        uart_target.link.write_input(0, bytes(16))
    with pytest.raises(DeviceError, match=r"BAD_ARGUMENT.*after RUN_STARTED"):
        uart_target.link.transact(msg.INPUT, bytes([0]) + bytes(4) + b"x", [(msg.INPUT | msg.REPLY, 1.0)])


def test_the_waits_for_the_host_are_not_timed(uart_target, monkeypatch):
    """The model only reads and copies: its instruction count is the same whether the host sends each frame at once
    or 0.3 s late (the device spins meanwhile, QEMU's virtual clock running: 0.9 s of it would be millions of
    ticks), to within a few ticks per wait (each reads the clock twice; frames cut the reads in other places)."""
    inputs = streamed_model.random_inputs(3)
    uart_target.infer(inputs)  # the link learns its round trip and settles its frame size
    prompt = uart_target.infer(inputs).summary.timing
    link = uart_target.link
    send = link._send

    def late(frame_type: int, seq: int, payload: bytes) -> None:
        if frame_type == msg.INPUT:
            time.sleep(0.3)
        send(frame_type, seq, payload)

    monkeypatch.setattr(link, "_send", late)
    began = time.monotonic()
    outcome = uart_target.infer(inputs)
    assert time.monotonic() - began > 0.9  # three frames, each 0.3 s late
    _assert_exact(outcome.outputs, inputs)
    late_timing = outcome.summary.timing
    assert abs(late_timing.ticks - prompt.ticks) <= 40, (prompt.ticks, late_timing.ticks)


def test_a_host_that_goes_silent_mid_stream_gets_a_timeout_result(uart_target, monkeypatch):
    link = uart_target.link
    link.stream_timeout = 0.2
    send_input = link._send_input

    def half(index: int, data: bytes, last_of_run: bool = False) -> None:
        if index == 0:  # the streamed input's first half, then nothing: the host went quiet
            data, last_of_run = data[: len(data) // 2], False
        send_input(index, data, last_of_run)

    monkeypatch.setattr(link, "_send_input", half)
    began = time.monotonic()
    with pytest.raises(DeviceError, match=r"refused RUN: TIMEOUT \(9\): RESULT status -9") as caught:
        uart_target.infer(streamed_model.random_inputs(4))
    assert caught.value.code == msg.ERR_TIMEOUT
    assert time.monotonic() - began < 20
    monkeypatch.undo()
    inputs = streamed_model.random_inputs(5)  # the device is ready for the next run
    _assert_exact(uart_target.infer(inputs).outputs, inputs)


def test_a_stream_of_wrong_bytes_is_reported_as_an_input_mismatch(uart_target, monkeypatch):
    link = uart_target.link
    send_input = link._send_input

    def flipped(index: int, data: bytes, last_of_run: bool = False) -> None:
        if index == 0:
            data = data[:100] + bytes([data[100] ^ 0x10]) + data[101:]
        send_input(index, data, last_of_run)

    monkeypatch.setattr(link, "_send_input", flipped)
    with pytest.raises(DeviceError, match=r"INPUT_MISMATCH \(5\): RESULT status -5.*streamed input") as caught:
        uart_target.infer(streamed_model.random_inputs(6))
    assert caught.value.code == msg.ERR_INPUT_MISMATCH


def _frames(port, decoder: FrameDecoder, count: int, timeout: float) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while len(frames) < count and time.monotonic() < deadline:
        frames += [f for f in decoder.feed(port.read(max(1, port.in_waiting))) if isinstance(f, Frame)]
    return frames


def test_while_it_waits_for_the_stream_the_device_answers_ping_the_run_and_resends_only(uart_target):
    """Raw frames, no retry logic: RUN, then during the stream a PING, the RUN again, an INFO, a first INPUT frame,
    its resend and a frame that skips bytes; then the host goes quiet until the stream times out."""
    port = uart_target.link.port
    x, k = streamed_model.random_inputs(7)
    uart_target.link.write_input(1, k)
    decoder = FrameDecoder()
    run = encode_frame(msg.RUN, 77, struct_run(zlib.crc32(k), zlib.crc32(x), timeout_ms=300))
    port.write(run)
    assert [f.type for f in _frames(port, decoder, 1, 5.0)] == [msg.RUN_STARTED]
    first = encode_frame(msg.INPUT, 80, bytes([0]) + bytes(4) + x[:1000])
    requests = [
        encode_frame(msg.PING, 78, b"still there"),
        run,
        encode_frame(msg.INFO, 79, b""),
        first,  # held, read, acknowledged when the model wants byte 1000
        encode_frame(msg.INPUT, 81, bytes([0]) + (3000).to_bytes(4, "little") + x[3000:3100]),
        first,  # a resend of what the model has read
    ]
    for request in requests:
        port.write(request)
        time.sleep(0.05)
    replies = _frames(port, decoder, 6, 10.0)
    assert [(f.type, f.seq) for f in replies] == [
        (msg.PING | msg.REPLY, 78),
        (msg.RUN_STARTED, 77),
        (msg.ERROR, 79),
        (msg.INPUT | msg.REPLY, 80),
        (msg.ERROR, 81),
        (msg.INPUT | msg.REPLY, 80),
    ]
    assert replies[0].payload == b"still there"
    assert msg.parse_error(replies[2].payload).code == msg.ERR_BUSY
    assert msg.parse_error(replies[4].payload).text == "INPUT skips streamed bytes the model has not read"
    assert replies[3].payload == replies[5].payload == bytes([0]) + bytes(4) + (1000).to_bytes(4, "little")
    (result,) = _frames(port, decoder, 1, 20.0)  # no frame for 300 ms: the stream timed out
    assert result.type == msg.RESULT and result.seq == 77
    assert msg.parse_result(result.payload).status == -msg.ERR_TIMEOUT


def struct_run(held_crc: int, streamed_crc: int, timeout_ms: int) -> bytes:
    return held_crc.to_bytes(4, "little") + streamed_crc.to_bytes(4, "little") + timeout_ms.to_bytes(4, "little")


def test_the_host_refuses_a_run_without_the_streamed_inputs(uart_target):
    link: DeviceLink = uart_target.link
    with pytest.raises(LinkError, match=r"streams inputs \(0,\), RUN was given \(\)"):
        link.run(0, 5.0)


@pytest.mark.parametrize("transport", ["uart", "rtt"])
def test_at_one_percent_flips_a_streamed_run_is_exact_or_fails_cleanly(
    transport, builder, qemu_board, streamed_sources, workdir
):
    """The noise bench's link (uart: the flipping proxy both ways; rtt: flips in the rings' payload bytes) with 1 %
    of bytes flipped: the stream's INPUT frames shrink and are resent like any data frames, a resent one the model
    has read is acknowledged again, and the inference comes back exact. A run may fail (a request out of attempts,
    as 0.02 % of requests do at 1 %), but cleanly and in bounded time, never with wrong outputs; one of three is
    exact."""
    image = builder.build(BuildRequest(qemu_board, streamed_sources, transport))
    rates = FaultRates(flip=0.01)
    with noisy_link(transport, qemu_board, image.elf, workdir, rates, seed=13, reply_timeout=1.5) as link:
        first_info(link)
        assert link.streamed == (0,)
        exact = 0
        for seed in (8, 9, 10):
            inputs = streamed_model.random_inputs(seed)
            began = time.monotonic()
            try:
                outcome = link.infer(inputs, run_timeout=30.0)
            except (LinkError, DeviceError):
                continue
            finally:
                assert time.monotonic() - began < 300
            _assert_exact(outcome.outputs, inputs)
            exact += 1
            break
        assert exact == 1, link.counters
        assert rates.counts["flip"] > 0 and link.counters.resends + link.counters.requests_resized > 0


def test_a_new_run_never_takes_the_last_runs_seq(uart_target):
    """A streamed model's rerun is a RUN and its INPUT frames, nothing that clears the device's RESULT cache: once
    the 8-bit seq comes round to the last RUN's (every 64 reruns of 4 requests), the device would answer the new
    RUN from that cache. The host keeps every RUN off the last one's seq."""
    link = uart_target.link
    first = uart_target.infer(streamed_model.random_inputs(11)).summary
    link._seq = (link._last_run_seq - 1) & 0xFF  # as if the seq had come round
    again = uart_target.rerun()
    assert again.inference_count == first.inference_count + 1


def test_the_led_is_dark_whenever_the_stream_moves(qemu_board, streamed_uart, workdir):
    """QEMU's trace of the FPGAIO LED and UART registers: the LED is lit for the model's work only, dark around each
    wait for a frame (the acknowledgement sent, the next frame received), so the device never writes its UART while
    lit. (A byte may reach the UART's receive register while it is lit: a host resending after a timeout on a
    loaded machine does not wait for the device to listen.)"""
    trace = ("-trace", "mps2_fpgaio_write", "-trace", "cmsdk_apb_uart_write", "-trace", "cmsdk_apb_uart_receive")
    with QemuUartTarget(qemu_board, streamed_uart.elf, workdir, extra_args=trace, run_timeout=30.0) as target:
        inputs = streamed_model.random_inputs(12)
        _assert_exact(target.infer(inputs).outputs, inputs)
    led_on, lit_spells, uart_writes_while_lit = False, 0, 0
    for line in (workdir / "qemu.log").read_text().splitlines():
        if m := LED_WRITE.search(line):
            lit = bool(int(m.group(1), 16) & 0x1)
            lit_spells += lit and not led_on
            led_on = lit
        elif led_on and "cmsdk_apb_uart_write" in line:
            uart_writes_while_lit += 1
    assert not led_on and uart_writes_while_lit == 0
    assert lit_spells >= 3  # the run starts lit, and is lit again after every frame it waited for


def test_a_run_without_the_streamed_crc_is_refused_before_it_starts(uart_target):
    k = streamed_model.random_inputs(13)[1]
    uart_target.link.write_input(1, k)
    stages = [(msg.RUN_STARTED, 1.0)]
    with pytest.raises(DeviceError, match=r"BAD_ARGUMENT.*with streamed inputs that of the streamed"):
        uart_target.link.transact(msg.RUN, zlib.crc32(k).to_bytes(4, "little"), stages)
    with pytest.raises(DeviceError, match=r"INPUT_MISMATCH.*differ from what the host sent"):
        uart_target.link.transact(msg.RUN, struct_run(zlib.crc32(k) ^ 1, 0, 0), stages)
    assert uart_target.link.stats().inference_count == 0


def test_frames_the_model_computes_on_are_acknowledged_without_resends(builder, qemu_board, tmp_path, workdir):
    """A model that computes on each piece of its stream before it wants the next acknowledges each frame only after
    that compute (here ~0.3 s of QEMU per frame). Those acknowledgements are timed by their own round trip: timed by
    the quick replies' (a few ms, so 0.1 s), every frame was resent while the device computed, which a board's polled
    UART drops, and the link shrank its frames for a noise it never had."""
    sources = streamed_model.write_streamed_model(tmp_path / streamed_model.NAME, work=WORK_PER_BYTE)
    image = builder.build(BuildRequest(qemu_board, sources, "uart"))
    with QemuUartTarget(qemu_board, image.elf, workdir, reply_timeout=3.0, run_timeout=60.0) as target:
        for seed in (1, 2):
            inputs = streamed_model.random_inputs(seed)
            _assert_exact(target.infer(inputs).outputs, inputs)
        link = target.link
        assert link.counters.timeouts == 0 and link.counters.resends == 0, link.counters
        assert link.data_chunk == link.max_payload


@pytest.mark.parametrize("work", [0, WORK_PER_BYTE])
def test_a_lost_acknowledgement_of_the_streams_last_frame_still_ends_in_the_result(
    work, builder, qemu_board, tmp_path, workdir
):
    """The device acknowledges the stream's last frame and computes on; that acknowledgement is lost (dropped on the
    host's side of a real socket). The host resends the frame to a device no longer reading the stream; the
    RESULT, which arrives meanwhile or after, ends the run with the exact outputs, with or without compute. Without
    compute the RESULT is already behind the lost reply when the host drops what it received to resend: it used to
    be dropped with it, and the run then waited out its whole run timeout (60 s here) for it."""
    sources = streamed_model.write_streamed_model(tmp_path / streamed_model.NAME, work=work)
    image = builder.build(BuildRequest(qemu_board, sources, "uart"))
    with QemuUartTarget(qemu_board, image.elf, workdir, reply_timeout=1.0, run_timeout=60.0) as target:
        link = target.link
        inputs = streamed_model.random_inputs(4)
        send, wait = link._send, link._await
        sent: list[bytes] = []
        dropped: list[Frame] = []

        def record(frame_type: int, seq: int, payload: bytes) -> None:
            sent.append(payload if frame_type == msg.INPUT else b"")
            send(frame_type, seq, payload)

        def lose_last_ack(request: int, seq: int, expected: int, deadline: float) -> Frame | str:
            reply = wait(request, seq, expected, deadline)
            last = request == msg.INPUT and sent[-1][0] == 0
            end = int.from_bytes(sent[-1][1:5], "little") + len(sent[-1]) - msg.INPUT_HEADER_BYTES if last else 0
            if end == streamed_model.SIZE and isinstance(reply, Frame) and not dropped:
                dropped.append(reply)
                return "timeout"
            return reply

        link._send, link._await = record, lose_last_ack
        began = time.monotonic()
        outcome = target.infer(inputs)
        assert dropped, "the last frame's acknowledgement was never seen"
        assert time.monotonic() - began < 30, "the run waited for a RESULT the host had dropped"
        _assert_exact(outcome.outputs, inputs)
        link._send, link._await = send, wait
        again = streamed_model.random_inputs(5)
        _assert_exact(target.infer(again).outputs, again)


@pytest.mark.parametrize("transport", ["uart", "semihosting"])
def test_two_streamed_inputs_around_a_held_one_run_bit_exact(transport, builder, qemu_board, tmp_path, workdir):
    """Inputs x (streamed), k (held) and z (streamed, read after x): the host sends k before RUN and x's then z's
    frames after RUN_STARTED, in index order; over semihosting each streamed file is read where the model asks."""
    size_z = 1500
    sources = streamed_model.write_streamed_model(tmp_path / streamed_model.NAME, size_z=size_z)
    image = builder.build(BuildRequest(qemu_board, sources, transport))
    if transport == "uart":
        target = QemuUartTarget(qemu_board, image.elf, workdir, reply_timeout=1.0, run_timeout=30.0)
    else:
        target = QemuSemihostingTarget(qemu_board, image.elf, workdir, run_timeout=60.0)
    with target:
        for seed in (6, 7):
            inputs = streamed_model.random_inputs(seed, size_z)
            _assert_exact(target.infer(inputs).outputs, inputs)
        assert target.info.streamed_inputs == (0, 2)
