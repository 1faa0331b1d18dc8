"""The compiler's end-to-end checks, in one place: the host build of a compiled model's C, and its firmware under QEMU
(tests marked QEMU), give the golden model's outputs bit for bit."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hil.compiler.host_model import HostModel
from hil.compiler.pipeline import CompiledModel

QEMU = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)


def assert_host_c_equals_golden(
    compiled: CompiledModel, inputs: list[np.ndarray], build_root: Path, label: str = ""
) -> None:
    """Every output of the host-built C equals golden's on each NHWC float input (label names a failure)."""
    host = HostModel(compiled.emitted.sources, build_root=build_root)
    for x in inputs:
        got = host.run([compiled.qgraph.quantize_input(x)])
        for g, e in zip(got, compiled.golden(x), strict=True):
            np.testing.assert_array_equal(g, e, err_msg=label)


def assert_qemu_equals_golden(compiled: CompiledModel, x: np.ndarray, work: Path, run_timeout: float = 600) -> None:
    """The compiled model built for the Cortex-M4 (mps2-an386, semihosting) gives golden's outputs for the NHWC
    float input x under QEMU, bit for bit."""
    from hil.board_description import load_board
    from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
    from hil.targets.qemu import QemuSemihostingTarget

    sources = compiled.emitted.sources
    board = load_board("mps2-an386")
    image = FirmwareBuilder(work / "fw").build(BuildRequest(board, sources, "semihosting"))
    target = QemuSemihostingTarget(board, image.elf, work / "run", run_timeout=run_timeout)
    target.start()
    outcome = target.infer([sources.inputs[0].to_bytes(compiled.qgraph.quantize_input(x))])
    got = [spec.from_bytes(data) for spec, data in zip(sources.outputs, outcome.outputs, strict=True)]
    for g, e in zip(got, compiled.golden(x), strict=True):
        np.testing.assert_array_equal(g, e)
