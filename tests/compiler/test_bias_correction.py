"""Bias correction (quantize.corrected_bias): a layer's quantised weights, applied to inputs whose mean is far from
zero, shift each output channel by (W_q - W) times that mean; the corrected bias takes the shift out, and the
exponent search keeps it only where the golden model's objective rises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hil.compiler import exponent_search, float_executor, golden
from hil.compiler.bit_widths import dequantized_weights
from hil.compiler.calibrate import MIN_MEAN_SAMPLES, channel_means, profile
from hil.compiler.capture import capture
from hil.compiler.ir import Graph
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.compiler.quantize import quantize

SIDE = 8
INPUTS = 12
OUTLIER = 16


class AfterReLU(nn.Module):
    """A 1x1 convolution and ReLU (so the layer under test reads non-negative inputs, mean far from zero), then the
    layer under test."""

    def __init__(self, layer: nn.Module, flatten: bool = False) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.pre = nn.Conv2d(4, 8, 1)
        self.flatten = flatten
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.pre(x))
        return self.layer(x.flatten(1) if self.flatten else x)


def _layer(kind: str) -> AfterReLU:
    """The layer with one weight of each output channel OUTLIER times the others' largest: it sets the channel's
    exponent, so the other weights round on a coarse grid (as a trained layer's few large weights make them) and
    their summed rounding error stands out from the activations' own."""
    torch.manual_seed(5)
    layer = {
        "pointwise": lambda: nn.Conv2d(8, 16, 1),
        "conv": lambda: nn.Conv2d(8, 16, 3, padding=1),
        "strided": lambda: nn.Conv2d(8, 16, 3, stride=2, padding=1),
        "grouped": lambda: nn.Conv2d(8, 16, 3, padding=1, groups=2),
        "depthwise": lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8),
        "linear": lambda: nn.Linear(8 * SIDE * SIDE, 16),
    }[kind]()
    with torch.no_grad():
        weight = layer.weight.view(layer.weight.shape[0], -1)
        weight[:, 0] = OUTLIER * weight.abs().max(dim=1).values
    return AfterReLU(layer, flatten=kind == "linear")


def _compiled(kind: str) -> tuple[Graph, list[np.ndarray], dict, dict]:
    model = _layer(kind).eval()
    rng = np.random.default_rng(7)
    inputs = [rng.uniform(-1, 1, (1, SIDE, SIDE, 4)).astype(np.float32) for _ in range(INPUTS)]
    graph = optimize(capture(model, torch.zeros(1, 4, SIDE, SIDE)))
    return graph, inputs, profile(graph, inputs), channel_means(graph, inputs)


def _mean_error(graph: Graph, run, inputs: list[np.ndarray]) -> np.ndarray:
    """Per output channel, the mean of run(x) - float(x) over the inputs and positions."""
    errors = [run(x) - float_executor.outputs(graph, [x])[0] for x in inputs]
    return np.mean([e.reshape(-1, e.shape[-1]).mean(axis=0) for e in errors], axis=0)


@pytest.mark.parametrize("kind", ["conv", "strided", "grouped", "depthwise", "linear"])
def testcorrected_biases_take_out_the_mean_error_of_the_golden_model(kind: str) -> None:
    """The golden integer model's per-channel mean error against float on the calibration inputs: the corrected
    biases leave less than half of what the plain ones leave. Not the pointwise layer: there the outlier weight
    multiplies one input channel alone, whose own grid's mean error then outweighs the weights' (measured: 0.010
    plain, 0.008 corrected, on an output step of 0.0625); the simulation test below checks its correction exactly."""
    graph, inputs, ranges, means = _compiled(kind)
    found = {}
    for label, q in (("plain", quantize(graph, ranges)), ("corrected", quantize(graph, ranges, means=means))):
        run = lambda x, q=q: q.dequantize(q.outputs[0], golden.outputs(q, [q.quantize_input(x)])[0])  # noqa: E731
        found[label] = float(np.abs(_mean_error(graph, run, inputs)).max())
    print(f"{kind}: largest channel mean error plain {found['plain']:.5f}, corrected {found['corrected']:.5f}")
    assert found["corrected"] < 0.5 * found["plain"]


@pytest.mark.parametrize("kind", ["pointwise", "conv", "depthwise"])
def testcorrected_biases_are_what_the_simulation_runs(kind: str) -> None:
    """dequantized_weights (the bit-width search's float simulation) takes each layer's corrected bias from the
    quantised graph: with its weights and biases, the float model's mean error on the calibration inputs is the
    biases' rounding, within a tenth of a bias step of a pointwise layer (exact: every tap reads the input's mean),
    and far below the uncorrected one elsewhere (a padded tap reads the padding at the map's edges)."""
    graph, inputs, ranges, means = _compiled(kind)
    plain, corrected = quantize(graph, ranges), quantize(graph, ranges, means=means)
    found = {}
    for label, q in (("plain", plain), ("corrected", corrected)):
        simulated = dequantized_weights(graph, q)
        found[label] = np.abs(_mean_error(graph, lambda x, g=simulated: float_executor.outputs(g, [x])[0], inputs))
    layer = corrected.nodes[-1]
    step = 2.0 ** (corrected.tensors[layer.inputs[0]].exponent + np.asarray(layer.attrs["weight_exponents"], float))
    if kind == "pointwise":
        assert (found["corrected"] <= 0.6 * step).all()
    assert found["corrected"].max() < 0.25 * found["plain"].max()
    assert not np.array_equal(plain.nodes[-1].arrays["bias"], layer.arrays["bias"])


def test_quantize_without_means_keeps_the_plain_biases() -> None:
    """No means, no correction: the float bias on the accumulator's grid."""
    graph, _, ranges, _ = _compiled("conv")
    q = quantize(graph, ranges)
    layer, node = q.nodes[-1], graph.nodes[-1]
    e_acc = q.tensors[layer.inputs[0]].exponent + np.asarray(layer.attrs["weight_exponents"])
    np.testing.assert_array_equal(layer.arrays["bias"], np.round(node.params["bias"] / 2.0**e_acc).astype(np.int32))


@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_the_exponent_search_keeps_the_higher_objective(kind: str) -> None:
    """The search measures the objective with and without corrected biases at calibrated exponents, records both,
    starts from the higher, and returns the means only when it kept the correction; without means it records no
    choice."""
    graph, inputs, ranges, means = _compiled(kind)
    _, record, kept = exponent_search.search_exponents(graph, ranges, inputs, means=means)
    assert record.snr_db_bias_corrected is not None and record.snr_db_uncorrected is not None
    assert record.snr_db_calibrated == max(record.snr_db_bias_corrected, record.snr_db_uncorrected)
    assert record.bias_correction == (record.snr_db_bias_corrected > record.snr_db_uncorrected)
    assert (kept is means) == record.bias_correction and (kept is None) != record.bias_correction
    _, record, kept = exponent_search.search_exponents(graph, ranges, inputs)
    assert kept is None and not record.bias_correction and record.snr_db_bias_corrected is None


def test_a_mean_of_too_few_values_corrects_nothing(tmp_path) -> None:
    """A vector (a Linear layer's input) has one value per channel and input: calibrated on fewer than
    MIN_MEAN_SAMPLES inputs it gets no mean, so its layer keeps the plain bias, while the map before it (64 values
    per channel and input) is corrected; the compile records which layers were (hil compile --json
    bias_corrected_layers)."""
    model = _layer("linear").eval()
    rng = np.random.default_rng(9)
    few = [rng.uniform(-1, 1, (1, SIDE, SIDE, 4)).astype(np.float32) for _ in range(MIN_MEAN_SAMPLES - 1)]
    compiled = compile_model(model, torch.zeros(1, 4, SIDE, SIDE), few, tmp_path / "few", "few")
    linear = next(n for n in compiled.graph.nodes if n.op == "linear")
    convs = [n.name for n in compiled.graph.nodes if n.op == "conv2d"]
    assert linear.inputs[0] not in channel_means(compiled.graph, few)
    assert compiled.bias_corrected == convs and convs
    enough = [*few, rng.uniform(-1, 1, (1, SIDE, SIDE, 4)).astype(np.float32)]
    compiled = compile_model(model, torch.zeros(1, 4, SIDE, SIDE), enough, tmp_path / "enough", "enough")
    assert compiled.bias_corrected == [*convs, linear.name]
