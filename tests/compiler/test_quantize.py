"""Calibration and quantisation: power-of-two exponents, per-channel weight exponents and kernel-legal shifts, SNR
of the golden model vs float."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from hil.compiler import float_executor, golden
from hil.compiler.calibrate import profile
from hil.compiler.capture import capture
from hil.compiler.ir import Graph
from hil.compiler.passes import optimize
from hil.compiler.qgraph import QGraph, QNode
from hil.compiler.quantize import fit_exponent, quantize
from hil.host_build import HostKernels, build_shared_library
from tests.compiler.random_models import RandomModel

CONV_KERNELS = ("conv2d_s8", "conv2d_s8_w16", "depthwise_conv2d_s8", "pointwise_conv2d_s8")
KINDS = [("conv", "conv2d_s8"), ("pointwise", "pointwise_conv2d_s8"), ("depthwise", "depthwise_conv2d_s8")]
SPREAD = 6  # UnequalChannels: channel c's weights are 2^(c % SPREAD) times channel 0's


@pytest.fixture(scope="module")
def host() -> HostKernels:
    return HostKernels(build_shared_library())


def _nhwc(x) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


def _exponents(q: QGraph, node: QNode) -> tuple[int, int, np.ndarray]:
    """(input exponent, output exponent, weight exponent per output channel) of a convolution."""
    return q.tensors[node.inputs[0]].exponent, q.tensors[node.output].exponent, np.array(node.attrs["weight_exponents"])


def _check_shifts(q: QGraph, node: QNode) -> None:
    """One int8 shift per output channel, e_out - e_in - e_w, in the kernels' 0..31."""
    e_in, e_out, e_w = _exponents(q, node)
    shift = node.arrays["out_shift"]
    assert shift.dtype == np.int8 and shift.shape == node.arrays["bias"].shape == e_w.shape, node.name
    np.testing.assert_array_equal(shift, e_out - e_in - e_w, err_msg=node.name)
    assert 0 <= shift.min() and shift.max() <= 31, node.name


@pytest.mark.parametrize(("max_abs", "bits", "expected"), [(1.0, 8, -6), (0.99, 8, -7), (127.0, 8, 0), (6.0, 8, -4)])
def test_fit_exponent_is_seedot_rule_without_saturation(max_abs: float, bits: int, expected: int) -> None:
    assert fit_exponent(max_abs, bits) == expected
    assert round(max_abs / 2.0**expected) <= 2 ** (bits - 1) - 1


@pytest.mark.parametrize("seed", range(6))
def test_random_model_snr_vs_float(seed: int) -> None:
    model = RandomModel(seed)
    graph = optimize(capture(model, model.example()))
    q = quantize(graph, profile(graph, [_nhwc(model.example(i)) for i in range(1, 6)]))
    for node in q.nodes:
        if node.kernel in CONV_KERNELS:
            _check_shifts(q, node)
            assert node.arrays["filter"].dtype == (np.int16 if node.kernel == "conv2d_s8_w16" else np.int8)
            assert node.arrays["bias"].dtype == np.int32
    x = _nhwc(model.example(99))
    (expected,) = float_executor.outputs(graph, [x])
    (got,) = golden.outputs(q, [q.quantize_input(x)])
    assert golden.snr_db(expected, q.dequantize(q.outputs[0], got)) >= 20.0


def test_face_model_snr_is_reported(compiled_faces, calibration_inputs) -> None:
    """Held-out image; the figures go to the report (see the compiler's notes on the checkpoints' ranges)."""
    x = calibration_inputs[2]
    for name, compiled in compiled_faces.items():
        expected = float_executor.outputs(compiled.graph, [x])
        got = compiled.golden(x)
        snr = [
            golden.snr_db(e, compiled.qgraph.dequantize(t, g))
            for e, t, g in zip(expected, compiled.qgraph.outputs, got, strict=True)
        ]
        print(f"{name}: SNR loc {snr[0]:.1f} dB, conf {snr[1]:.1f} dB")
        assert all(np.isfinite(s) for s in snr)


def test_face_models_have_per_channel_weight_exponents(compiled_faces) -> None:
    """Trained layers' channels differ in range: most convolutions get more than one weight exponent."""
    for name, compiled in compiled_faces.items():
        convs = [n for n in compiled.qgraph.nodes if n.kernel in CONV_KERNELS]
        for node in convs:
            _check_shifts(compiled.qgraph, node)
        spread = [len(set(n.attrs["weight_exponents"])) > 1 for n in convs]
        print(f"{name}: {sum(spread)} of {len(convs)} convolutions have unequal channel exponents")
        assert sum(spread) > len(convs) // 2, name


class UnequalChannels(nn.Module):
    """A stem, then one convolution (kind: conv, pointwise or depthwise) whose output channel c reads only input
    channel c. Input channel c spans 2^-(c % SPREAD) of channel 0's range and its weights are 2^(c % SPREAD) times
    channel 0's, so every output spans the same range (as BatchNorm folding leaves them) while the weights' ranges
    differ 32-fold. Every channel's filter is one filter times a power of two, in the stem too."""

    def __init__(self, kind: str, channels: int = 12) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(7)
        scale = 2.0 ** (torch.arange(channels) % SPREAD).float()
        k = 1 if kind == "pointwise" else 3
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.layer = nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels if kind == "depthwise" else 1)
        with torch.no_grad():
            self.stem.weight.copy_(torch.randn(1, 1, 3, 3, generator=generator) / scale.reshape(-1, 1, 1, 1))
            self.stem.bias.copy_(0.1 / scale)
            tap = torch.randn(k, k, generator=generator)
            weight = torch.zeros_like(self.layer.weight)
            for c in range(channels):
                weight[c, 0 if kind == "depthwise" else c] = tap * scale[c]
            self.layer.weight.copy_(weight)
            self.layer.bias.fill_(0.05)
        self.eval()

    @staticmethod
    def example(seed: int) -> np.ndarray:
        """A random NHWC input in [-1, 1)."""
        return np.random.default_rng(seed).uniform(-1.0, 1.0, (1, 12, 14, 1)).astype(np.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.stem(x))


def _unequal(kind: str) -> tuple[Graph, QGraph]:
    model = UnequalChannels(kind)
    graph = optimize(capture(model, torch.zeros(1, 1, 12, 14)))
    return graph, quantize(graph, profile(graph, [model.example(i) for i in range(4)]))


def _channel_filters(node: QNode) -> np.ndarray:
    """[C, kh, kw]: each output channel's taps on the one input channel it reads (UnequalChannels)."""
    f = node.arrays["filter"]
    if node.kernel == "depthwise_conv2d_s8":
        return np.moveaxis(f[0], -1, 0)
    return np.stack([f[c, ..., c % f.shape[-1]] for c in range(f.shape[0])])


@pytest.mark.parametrize(("kind", "kernel"), KINDS)
def test_each_channel_gets_the_finest_weight_exponent(host: HostKernels, kind: str, kernel: str) -> None:
    """The exponents follow the channels' ranges exactly (so every channel quantises to the same integers, using
    the top bit), the shifts differ with them, and the host C kernels compute the golden model's bits."""
    _, q = _unequal(kind)
    assert [n.kernel for n in q.nodes] == ["conv2d_s8_w16", kernel]
    x = q.quantize_input(UnequalChannels.example(9))
    for node, sign in zip(q.nodes, (-1, 1), strict=True):
        _check_shifts(q, node)
        e_w = _exponents(q, node)[2]
        np.testing.assert_array_equal(e_w, e_w[0] + sign * (np.arange(e_w.size) % SPREAD), err_msg=node.name)
        filters = _channel_filters(node)
        assert all(np.array_equal(f, filters[0]) for f in filters), node.name
        assert np.abs(filters[0]).max() >= 2 ** (8 * filters.itemsize - 2), node.name
        a = node.arrays
        output_hw = () if node.kernel == "pointwise_conv2d_s8" else (node.attrs["output_hw"],)
        got = getattr(host, node.kernel)(node.params, a["out_shift"], x, a["filter"], a["bias"], *output_hw)
        np.testing.assert_array_equal(got, golden.run_node(node, [x]), err_msg=node.name)
        x = got


@pytest.mark.parametrize(("kind", "kernel"), KINDS)
def test_per_channel_weights_beat_per_tensor_snr(kind: str, kernel: str) -> None:
    """On the same int8 input, the layer's output against the float layer: per-channel exponents keep the small
    weights' bits, where one exponent per tensor (the largest channel's) rounds them to a few levels."""
    graph, q = _unequal(kind)
    layer, float_layer = q.nodes[1], graph.nodes[1]
    assert layer.kernel == kernel
    e_in, e_out, e_w = _exponents(q, layer)
    e_tensor = int(e_w.max())
    weight = float_layer.params["weight"]
    ohwi = weight[:, 0].transpose(1, 2, 0)[None] if kind == "depthwise" else weight.transpose(0, 2, 3, 1)
    per_tensor = dataclasses.replace(
        layer,
        arrays={
            "filter": np.clip(np.round(ohwi / 2.0**e_tensor), -128, 127).astype(np.int8),
            "bias": np.round(float_layer.params["bias"] / 2.0 ** (e_in + e_tensor)).astype(np.int32),
            "out_shift": np.full(e_w.size, e_out - e_in - e_tensor, np.int8),
        },
    )
    snr: dict[str, list[float]] = {"channel": [], "tensor": []}
    for seed in (11, 12, 13):
        x = golden.execute(q, [q.quantize_input(UnequalChannels.example(seed))])[layer.inputs[0]]
        reference = float_executor.run_node(float_layer, [q.dequantize(layer.inputs[0], x)])
        for name, node in (("channel", layer), ("tensor", per_tensor)):
            snr[name].append(golden.snr_db(reference, q.dequantize(layer.output, golden.run_node(node, [x]))))
    print(f"{kind}: SNR per channel {np.mean(snr['channel']):.1f} dB, per tensor {np.mean(snr['tensor']):.1f} dB")
    assert min(snr["channel"]) >= max(snr["tensor"]) + 6.0
