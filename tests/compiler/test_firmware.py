"""The compiled M4 model in firmware under QEMU (semihosting) equals the host C bit for bit, within budget."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hil.board_description import load_board
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
from hil.compiler.host_model import HostModel
from hil.targets.qemu import QemuSemihostingTarget

IPM_LIMIT = 6.0
PEAK_RAM_LIMIT = 185 * 1024
FLASH_LIMIT = 160 * 1024


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
def test_m4_firmware_equals_host_c(compiled_faces, calibration_inputs, tmp_path) -> None:
    compiled = compiled_faces["m4"]
    sources = compiled.emitted.sources
    board = load_board("mps2-an386")
    image = FirmwareBuilder(tmp_path / "fw").build(BuildRequest(board, sources, "semihosting"))
    q = compiled.qgraph.quantize_input(calibration_inputs[2])
    expected = HostModel(sources, build_root=tmp_path / "host").run([q])
    target = QemuSemihostingTarget(board, image.elf, tmp_path / "run", run_timeout=300)
    target.start()
    outcome = target.infer([sources.inputs[0].to_bytes(q)])
    got = [spec.from_bytes(data) for spec, data in zip(sources.outputs, outcome.outputs, strict=True)]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    timing = outcome.summary.timing
    ipm = timing.ticks * (1e9 / timing.timer_hz) / compiled.qgraph.macs  # -icount shift=0: 1 instruction per ns
    footprint = image.footprint
    print(
        f"m4 firmware: IPM {ipm:.2f}, RAM+CCM {footprint.ram_bytes + footprint.ccm_bytes} B, "
        f"flash {footprint.flash_bytes} B, stack high-water {outcome.summary.stack_high_water} B"
    )
    assert ipm <= IPM_LIMIT
    assert footprint.ram_bytes + footprint.ccm_bytes <= PEAK_RAM_LIMIT
    assert footprint.flash_bytes <= FLASH_LIMIT
