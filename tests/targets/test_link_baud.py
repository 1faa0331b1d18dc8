"""Both ends of the UART at the rate the firmware was built for (`--hil-baud`)."""

from __future__ import annotations

import numpy as np

from hil import conv_test_model
from hil.target_factory import TargetChoice, open_dut
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
