"""The bit-width search's cost model (hil/compiler/width_cost.py) against what QEMU counts: models that are not the
face models, each built all-int8 and with int16 maps (the search's choices, or chosen by the test), run under QEMU
(-icount: instruction counts are exact, not timings), the difference against the estimate."""

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
    assert record.choices and record.instructions > 500_000
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


def test_an_mbconv_block_with_int16_rows(tmp_path) -> None:
    """A fused MBConv (1x1 16 -> 64, 3x3 depthwise, 1x1 64 -> 16, residual) with its expanded and depthwise maps at
    int16: conv2d_a16 and depthwise_conv2d_a16 inside the block, the depthwise charged at its own rate."""
    from hil.compiler import width_cost
    from models.blocks import InvertedResidual
    from tests.compiler.widened import compiled_with

    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(), InvertedResidual(16, 16, 1, 4)).eval()
    rng = np.random.default_rng(1)
    calibration = [rng.standard_normal((1, 20, 24, 4)).astype(np.float32) for _ in range(3)]
    int8 = compile_model(model, torch.zeros(1, 4, 20, 24), calibration, tmp_path / "c_int8", "block")
    depthwise = next(n for n in int8.graph.nodes if n.op == "conv2d" and n.attrs["groups"] > 1)
    wide = [depthwise.inputs[0], depthwise.output]
    widened = compiled_with(int8.graph, calibration, wide, tmp_path / "c_wide", stream_input=False)
    (block,) = [s for s in widened.steps if s.kind == "mbconv"]
    assert [n.kernel for n in block.nodes] == ["conv2d_a16", "depthwise_conv2d_a16", "conv2d_a16", "add_s8"]
    estimate = width_cost.extra_instructions(int8.graph, int8.qgraph, wide)
    measured = _measured_extra(int8, widened, calibration[0], tmp_path)
    assert abs(estimate - measured) <= TOLERANCE * measured, (estimate, measured)


def test_a_window_of_257_int16_values_requantises_in_64_bits(tmp_path) -> None:
    """A 1x1 projection reading 256 and 257 int16 channels (256: the QVGA's mob.13 projection): past 256 values a
    window, bias plus sum may pass int32, so conv2d_a16 requantises in 64 bits. One more channel changes the rest of the
    cost by under 1 %, so the step between the two is that requantisation, which the estimate charges per output
    value (per_value_64bit)."""
    from hil.compiler import width_cost
    from tests.compiler.widened import compiled_with

    steps = {}
    for channels in (256, 257):
        torch.manual_seed(2)
        # the first convolution is the stem (int16 weights, no int16-activation kernel), which passes x on
        model = nn.Sequential(nn.Conv2d(8, 8, 1), nn.Conv2d(8, channels, 1), nn.ReLU(), nn.Conv2d(channels, 64, 1))
        rng = np.random.default_rng(2)
        calibration = [rng.standard_normal((1, 12, 12, 8)).astype(np.float32) for _ in range(2)]
        work = tmp_path / str(channels)
        int8 = compile_model(model.eval(), torch.zeros(1, 8, 12, 12), calibration, work / "c_int8", "projection")
        graph = int8.graph
        wide = [next(n.inputs[0] for n in graph.nodes if graph.tensors[n.inputs[0]].shape[-1] == channels)]
        widened = compiled_with(graph, calibration, wide, work / "c_wide", stream_input=False)
        estimate = width_cost.extra_instructions(graph, int8.qgraph, wide)
        steps[channels] = (estimate, _measured_extra(int8, widened, calibration[0], work))
    estimated, measured = (steps[257][i] - steps[256][i] for i in (0, 1))
    assert measured > 0.5 * width_cost.RATES["conv2d"].per_value_64bit * 12 * 12 * 64, steps
    assert abs(estimated - measured) <= TOLERANCE * measured, steps
