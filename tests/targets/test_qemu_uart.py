"""The UART build under QEMU, end to end: real emulator, real socket, real frames."""

from __future__ import annotations

import time
import zlib

import numpy as np
import pytest

from hil import conv_test_model
from hil.board_description import load_board
from hil.build.firmware_builder import STACK_BYTES, BuildRequest
from hil.errors import DeviceError, TargetError
from hil.link import messages as msg
from hil.link.frame import Frame, FrameDecoder, encode_frame
from hil.targets.qemu import QemuUartTarget
from tests.conftest import random_image


@pytest.fixture
def target(qemu_board, uart_image, workdir):
    t = QemuUartTarget(qemu_board, uart_image.elf, workdir, reply_timeout=1.0)
    t.start()
    yield t
    t.stop()


def test_info_describes_board_model_and_build(target, uart_image, test_model):
    info = target.info
    assert info.board == "mps2-an386" and info.transport == "uart"
    assert info.model_name == conv_test_model.NAME and info.model_hash == test_model.hash
    assert info.build_id == uart_image.build_id
    assert info.inputs == (conv_test_model.INPUT,) and info.outputs == (conv_test_model.OUTPUT,)
    assert info.emulated and not info.clock_fallback
    assert info.timer_hz == info.core_clock_hz == 25_000_000
    assert "-mcpu=cortex-m4" in info.build_flags
    assert info.arena_bytes == test_model.arena_bytes and info.stack_bytes == STACK_BYTES


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_outputs_equal_the_hosts_exact_computation(target, seed):
    image = random_image(seed)
    outcome = target.infer([conv_test_model.INPUT.to_bytes(image)])
    device = conv_test_model.OUTPUT.from_bytes(outcome.outputs[0])
    np.testing.assert_array_equal(device, conv_test_model.reference(image))
    assert outcome.summary.status == 0


def test_timing_is_virtual_repeatable_and_labelled_as_not_silicon(target):
    data = conv_test_model.INPUT.to_bytes(random_image(5))
    first, second = (target.infer([data]).summary.timing for _ in range(2))
    assert not first.silicon and first.cycles is None
    # SysTick counts at 25 MHz: readings repeat to within one tick (40 instructions).
    assert abs(first.ticks - second.ticks) <= 1 and first.instructions > 1_000_000
    assert "not silicon time" in first.label


def test_stack_high_water_and_stats(target):
    target.infer([conv_test_model.INPUT.to_bytes(random_image(7))])
    stats = target.link.stats()
    assert 0 < stats.stack_high_water < stats.stack_bytes == STACK_BYTES
    assert stats.inference_count == 1
    assert stats.rx_bad_crc == stats.rx_timeouts == 0
    assert stats.io_buffer_bytes == target.info.io_buffer_bytes > 2 * 2048


def test_ping_echoes_its_payload(target):
    assert target.link.ping(bytes(range(256)) * 4) < 2.0


def test_input_past_the_tensor_end_is_refused_with_its_reason(target):
    with pytest.raises(DeviceError, match=r"BAD_ARGUMENT.*past the tensor's end"):
        target.link.transact(msg.INPUT, bytes([0]) + (76_800).to_bytes(4, "little") + b"x", [(0x83, 1.0)])


def test_run_on_inputs_other_than_those_sent_is_refused(target):
    data = conv_test_model.INPUT.to_bytes(random_image(8))
    target.link.write_input(0, data)
    with pytest.raises(DeviceError, match="INPUT_MISMATCH"):
        target.link.run(zlib.crc32(data) ^ 1, run_timeout=5.0)


def test_an_unknown_request_type_gets_an_error_reply(target):
    with pytest.raises(DeviceError, match="UNKNOWN_TYPE"):
        target.link.transact(0x33, b"", [(0xB3, 1.0)])


def _raw_frames(port, request: bytes, count: int, timeout: float) -> list[Frame]:
    """Writes a frame as bytes and reads back count frames, as a host with no retry logic would."""
    port.write(request)
    decoder, frames, deadline = FrameDecoder(), [], time.monotonic() + timeout
    while len(frames) < count and time.monotonic() < deadline:
        frames += [f for f in decoder.feed(port.read(max(1, port.in_waiting))) if isinstance(f, Frame)]
    return frames


def test_a_resent_run_is_answered_from_the_cache_without_running_again(target):
    data = conv_test_model.INPUT.to_bytes(random_image(9))
    target.link.write_input(0, data)
    run = encode_frame(msg.RUN, 200, zlib.crc32(data).to_bytes(4, "little"))
    first = _raw_frames(target.link.port, run, 2, timeout=10.0)
    resent = _raw_frames(target.link.port, run, 2, timeout=10.0)
    assert [f.type for f in first] == [f.type for f in resent] == [msg.RUN_STARTED, msg.RESULT]
    assert resent[1] == first[1]
    assert msg.parse_result(resent[1].payload).inference_count == 1
    assert target.link.stats().inference_count == 1


def test_an_image_for_another_board_is_refused_before_it_runs(builder, test_model, qemu_board, workdir):
    nucleo = builder.build(BuildRequest(load_board("nucleo-f439zi"), test_model, "uart"))
    with pytest.raises(TargetError, match=r"built for board 'nucleo-f439zi'.*mps2-an386"):
        QemuUartTarget(qemu_board, nucleo.elf, workdir).start()


def test_a_missing_emulator_says_how_to_install_it(qemu_board, uart_image, workdir):
    with pytest.raises(TargetError, match="qemu-system-nowhere is not on PATH; install it with: apt-get"):
        QemuUartTarget(qemu_board, uart_image.elf, workdir, qemu="qemu-system-nowhere").start()


def test_stale_firmware_is_detected_from_the_build_id(qemu_board, uart_image, workdir, monkeypatch):
    monkeypatch.setattr("hil.targets.linked.read_build_id", lambda elf: "00" * 20)
    target = QemuUartTarget(qemu_board, uart_image.elf, workdir)
    try:
        with pytest.raises(TargetError, match="stale firmware"):
            target.start()
    finally:
        target.stop()
    assert target.process is not None and target.process.poll() is not None, "QEMU outlived the refused start"
