"""UART rate negotiation (hil/link/baud.py) against the real firmware under QEMU, through the fault proxy.
QEMU's CMSDK UART ignores the rate, so these try the protocol (SET_BAUD, the trial, the echo burst, the
commit and the fallback); pyserial's baudrate change on a real port is the part only a board exercises."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from hil import conv_test_model
from hil.board_description import load_board
from hil.link.baud import negotiate_baud
from hil.link.device_link import DeviceLink, open_port
from hil.link.fault_proxy import FaultRates, FaultyProxy
from tests.conftest import random_image

BOARD = load_board("mps2-an386")


@pytest.fixture
def proxied_link(qemu_port) -> Iterator[Callable[[int], tuple[DeviceLink, FaultRates]]]:
    """Makes (a link that has had its INFO, the proxy's fault rates) through a fault proxy seeded as asked."""
    port, _ = qemu_port
    opened: list[tuple[DeviceLink, FaultyProxy]] = []

    def make(seed: int) -> tuple[DeviceLink, FaultRates]:
        rates = FaultRates()
        proxy = FaultyProxy(port, rates, seed=seed)
        link = DeviceLink(open_port(f"socket://127.0.0.1:{proxy.port}", BOARD.baud), "proxy", 1.5, 5)
        opened.append((link, proxy))
        link.info()
        return link, rates

    yield make
    for link, proxy in opened:
        link.close()
        proxy.close()


def _inference_is_exact(link: DeviceLink) -> bool:
    image = random_image(3)
    outcome = link.infer([conv_test_model.INPUT.to_bytes(image)], run_timeout=30.0)
    return np.array_equal(conv_test_model.OUTPUT.from_bytes(outcome.outputs[0]), conv_test_model.reference(image))


def test_a_clean_link_moves_to_the_boards_highest_rate_and_says_so(proxied_link, caplog):
    link, _ = proxied_link(0)
    with caplog.at_level(logging.INFO, logger="hil.link.baud"):
        rate = negotiate_baud(link, BOARD.baud, BOARD.baud_rates)
    assert rate == max(BOARD.baud_rates) == 921_600
    assert "921600 baud passed its echo burst and is committed (up from 115200)" in caplog.text
    assert link.port.baudrate == 921_600
    assert _inference_is_exact(link)


def test_a_corrupted_echo_burst_falls_back_to_the_starting_rate(proxied_link, caplog):
    link, rates = proxied_link(4)
    rates.flip = 0.02
    with caplog.at_level(logging.INFO, logger="hil.link.baud"):
        rate = negotiate_baud(link, BOARD.baud, BOARD.baud_rates)
    rates.flip = 0.0
    assert rate == BOARD.baud
    assert link.port.baudrate == BOARD.baud
    assert "UART stays at 115200 baud" in caplog.text
    assert rates.counts["flip"] > 0
    assert _inference_is_exact(link)


def test_a_rate_the_uart_cannot_make_is_refused_by_the_device(proxied_link, caplog):
    link, _ = proxied_link(0)
    with caplog.at_level(logging.INFO, logger="hil.link.baud"):
        rate = negotiate_baud(link, BOARD.baud, [BOARD.baud, 3_000_000])
    assert rate == BOARD.baud
    assert "cannot run its UART at 3000000 baud" in caplog.text
    link.ping()
