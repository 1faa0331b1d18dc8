"""The bit-width search's cost model (hil/compiler/width_cost.py) against what QEMU counts: two models that are not
the face models, each built all-int8 and with the search's int16 choices, run under QEMU (-icount: instruction
counts are exact, not timings), the difference against the estimate."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hil.bench.profile import profile_compiled
from hil.compiler.pipeline import CompiledModel, compile_model

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
# The rates are fitted per operator over layers of different shapes; a model's estimate lands within this of QEMU.
TOLERANCE = 0.25


def _measured_extra(int8: CompiledModel, searched: CompiledModel, x: np.ndarray, work: Path) -> int:
    runs = [profile_compiled(c, x, work / name) for name, c in (("int8", int8), ("search", searched))]
    assert all(r["firmware_equals_golden"] for r in runs)
    return runs[1]["instructions"] - runs[0]["instructions"]


def test_a_convolution_chain(tmp_path) -> None:
    """3x3 and 1x1 convolutions of 32 channels on 24x24: the search widens their maps, so conv2d_a16 runs with int16
    outputs and inputs."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(8, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 1),
        nn.ReLU(),
        nn.Conv2d(32, 4, 3, padding=1),
    ).eval()
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((1, 24, 24, 8)).astype(np.float32) for _ in range(4)]
    compiled = {
        mode: compile_model(model, torch.zeros(1, 8, 24, 24), calibration, tmp_path / mode, "chain", None, mode)
        for mode in ("int8", "search")
    }
    record = compiled["search"].bit_widths
    assert record.choices and record.instructions > 1_000_000
    measured = _measured_extra(compiled["int8"], compiled["search"], calibration[0], tmp_path)
    assert abs(record.instructions - measured) <= TOLERANCE * measured, (record.instructions, measured)


def test_the_autoencoder_example(tmp_path) -> None:
    """Fully connected layers: fully_connected_a16 reading int16 costs several times conv2d_a16's rate per MAC."""
    from hil.catalog import compile_spec, resolve_model
    from hil.catalog.compile_cache import nhwc_inputs
    from hil.compiler.cli import bit_width_spec

    spec = resolve_model("examples/autoencoder.py:build")
    compiled = {}
    for mode in ("int8", "search"):
        chosen, _ = bit_width_spec(spec, mode, "nucleo-f439zi", 40_000)
        compiled[mode] = compile_spec(chosen, directory=tmp_path / mode)
    record = compiled["search"].bit_widths
    assert record.choices and record.instructions > 500_000
    x = nhwc_inputs(np.asarray(spec.calibration_inputs()[:1]))[0]
    measured = _measured_extra(compiled["int8"], compiled["search"], x, tmp_path)
    assert abs(record.instructions - measured) <= TOLERANCE * measured, (record.instructions, measured)
