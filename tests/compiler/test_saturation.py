"""Saturation: which tensors of a compiled model hit the ends of their integer range on an input the calibration
did not cover, counted from the golden model's own integers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hil.compiler import golden
from hil.compiler.calibrate import profile
from hil.compiler.capture import capture
from hil.compiler.passes import optimize
from hil.compiler.qgraph import QGraph
from hil.compiler.quantize import quantize
from hil.compiler.saturation import loss_diagnosis, saturated_tensors

SHAPE = (1, 8, 8, 1)
TOP = 127 / 128


@pytest.fixture(scope="module")
def calibrated() -> tuple[QGraph, np.ndarray]:
    """A convolution calibrated on one input in [0, 127/128], whose maximum is the input grid's last step: (the
    quantised graph, that input)."""
    torch.manual_seed(0)
    model = nn.Conv2d(1, 8, 3, padding=1).eval()
    graph = optimize(capture(model, torch.zeros(1, 1, 8, 8)))
    x = np.random.default_rng(0).uniform(0, TOP, SHAPE).astype(np.float32)
    x[0, 0, 0, 0] = TOP
    return quantize(graph, profile(graph, [x])), x


def _saturated(q: QGraph, x: np.ndarray):
    return saturated_tensors(q, x, golden.execute(q, [q.quantize_input(x)]))


def test_the_calibration_input_itself_saturates_nothing_beyond_its_extremes(calibrated) -> None:
    q, x = calibrated
    assert q.quantize_input(x).max() == 127
    assert [s for s in _saturated(q, x) if s.layer == "input"] == [], "its maximum is on the grid's end, not past it"
    assert all(s.saturated <= 1 for s in _saturated(q, x)), "at most the calibrated maximum itself rounds to the end"


def test_an_input_four_times_brighter_saturates_the_input_and_the_convolution(calibrated) -> None:
    q, x = calibrated
    bright = 4 * x
    found = {s.layer: s for s in _saturated(q, bright)}
    grid = np.round((bright - q.tensors[q.inputs[0]].offset) / q.tensors[q.inputs[0]].scale)
    assert found["input"].saturated == np.count_nonzero(grid > 127) > 0
    (conv,) = [s for s in found.values() if s.layer != "input"]
    output = golden.execute(q, [q.quantize_input(bright)])[q.outputs[0]]
    assert conv.tensor == q.outputs[0] and conv.bits == 8 and conv.values == output.size
    assert np.any(output == 127) and np.any(output == -128), "both ends"
    assert conv.saturated == np.count_nonzero((output == 127) | (output == -128)) > 8, "at most 1 on x itself"
    assert f"{conv.saturated} of its {conv.values} values" in conv.describe()


def test_the_most_saturated_tensor_comes_first(calibrated) -> None:
    q, x = calibrated
    fractions = [s.fraction for s in _saturated(q, 4 * x)]
    assert len(fractions) == 2 and fractions == sorted(fractions, reverse=True)


def test_the_diagnosis_names_the_worst_tensor_or_says_the_loss_is_rounding(calibrated) -> None:
    q, x = calibrated
    saturated = _saturated(q, 4 * x)
    assert loss_diagnosis(saturated).startswith(f"on this input {saturated[0].describe()} (and 1 more tensor):")
    assert loss_diagnosis([]).startswith("no tensor saturates on this input, so the loss is rounding")
