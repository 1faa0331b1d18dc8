"""Both ends of the UART at the rate the firmware was built for (`--hil-baud`), and the rate a target that
reaches its device over a port negotiates from there (hil/link/baud.py)."""

from __future__ import annotations

import logging

import numpy as np

from hil import conv_test_model
from hil.link.baud import UartRate
from hil.target_factory import TargetChoice, open_dut
from hil.targets.serial_target import SerialPortTarget
from tests.conftest import random_image


def test_the_host_opens_the_port_at_the_built_baud(tmp_path, test_model) -> None:
    """QEMU's UART ignores the rate, so the check is what each end was set to: the image's config header and
    the host's port."""
    dut = open_dut(TargetChoice("mps2-an386", "qemu", "uart", baud=921_600), test_model, tmp_path)
    try:
        assert dut.target.link.port.baudrate == 921_600
        assert "HIL_UART_BAUD 921600u" in (dut.image.elf.parent / "hil_build_config.h").read_text()
        image = random_image(4)
        run = dut.infer([image])
    finally:
        dut.close()
    assert np.array_equal(run.outputs[0], conv_test_model.reference(image))


def _port_target(qemu_board, uart_image, port: int, **kwargs) -> SerialPortTarget:
    return SerialPortTarget(qemu_board, uart_image.elf, f"socket://127.0.0.1:{port}", reply_timeout=1.5, **kwargs)


def test_a_port_target_negotiates_the_boards_fastest_rate_and_reports_it(qemu_board, uart_image, qemu_port, caplog):
    """mps2-an386's board.toml lists rates up to 921,600: the target moves there, says so in the log and in
    uart_rate (what the run's report shows), and inference stays exact. QEMU's UART ignores the rate: that the
    port really changes speed is what only a board exercises."""
    port, _ = qemu_port
    target = _port_target(qemu_board, uart_image, port)
    try:
        with caplog.at_level(logging.INFO, logger="hil.targets.linked"):
            target.start()
        assert target.uart_rate == UartRate(921_600, "negotiated up from 115200")
        assert target.link.port.baudrate == 921_600
        assert "UART at 921600 baud (negotiated up from 115200)" in caplog.text
        image = random_image(5)
        outcome = target.infer([conv_test_model.INPUT.to_bytes(image)])
    finally:
        target.stop()
    assert np.array_equal(conv_test_model.OUTPUT.from_bytes(outcome.outputs[0]), conv_test_model.reference(image))


def test_with_negotiation_off_a_port_target_stays_at_the_default_rate(qemu_board, uart_image, qemu_port):
    port, _ = qemu_port
    target = _port_target(qemu_board, uart_image, port, baud_negotiation=False)
    try:
        target.start()
        assert target.uart_rate == UartRate(115_200, "negotiation off")
        assert target.link.port.baudrate == 115_200
        assert target.link.counters.requests == 1  # INFO alone: no SET_BAUD, no echo burst
    finally:
        target.stop()
