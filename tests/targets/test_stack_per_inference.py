"""The stack high-water in RESULT is the inference's own: the same run reports the same bytes whatever the
link went through before it."""

from __future__ import annotations

import os

from hil.link import messages as msg
from hil.link.frame import encode_frame
from hil.target_factory import TargetChoice, open_dut
from tests.conftest import random_image


def test_link_errors_before_a_run_do_not_change_its_stack_high_water(tmp_path, test_model) -> None:
    dut = open_dut(TargetChoice("mps2-an386", "qemu", "uart"), test_model, tmp_path)
    try:
        image = random_image(7)
        clean = dut.infer([image]).stack_high_water
        link = dut.target.link
        # Damaged frames the device must reject (bad CRC, bad length) and noise it must resynchronise past.
        for seq in range(8):
            frame = bytearray(encode_frame(msg.PING, 200 + seq, os.urandom(64)))
            frame[-1] ^= 0xFF
            link.port.write(bytes(frame) + os.urandom(37))
        link.port.write(encode_frame(msg.INPUT, 250, b"\x00" * 3))
        link.ping()
        after_errors = dut.infer([image]).stack_high_water
    finally:
        dut.close()
    assert 0 < clean == after_errors
