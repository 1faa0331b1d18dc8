"""The inference LED, seen from outside the guest through QEMU's trace of FPGAIO register writes."""

from __future__ import annotations

import re

from hil import conv_test_model
from hil.targets.qemu import QemuUartTarget
from tests.conftest import random_image

LED_WRITE = re.compile(r"mps2_fpgaio_write .*offset 0x0 data 0x([0-9a-f]+)")
UART_EVENT = re.compile(r"cmsdk_apb_uart_(write|receive)")


def test_the_led_is_lit_once_per_inference_and_never_while_the_link_is_busy(qemu_board, uart_image, workdir):
    trace = ("-trace", "mps2_fpgaio_write", "-trace", "cmsdk_apb_uart_write", "-trace", "cmsdk_apb_uart_receive")
    target = QemuUartTarget(qemu_board, uart_image.elf, workdir, extra_args=trace)
    target.start()
    try:
        for seed in (1, 2):
            target.infer([conv_test_model.INPUT.to_bytes(random_image(seed))])
    finally:
        target.stop()

    led_on = False
    transitions = []
    uart_events_while_lit = 0
    for line in (workdir / "qemu.log").read_text().splitlines():
        if m := LED_WRITE.search(line):
            lit = bool(int(m.group(1), 16) & 0x1)
            if lit != led_on:
                transitions.append(lit)
            led_on = lit
        elif led_on and UART_EVENT.search(line):
            uart_events_while_lit += 1
    assert transitions == [True, False, True, False]
    assert uart_events_while_lit == 0
