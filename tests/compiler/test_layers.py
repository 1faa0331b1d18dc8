"""The general layers (issue 10, point 6) through the compiler: each operator's model compiles and its error against
float stays small; one model of every operator gives the same bits in host C, the golden model and under QEMU
(bench_layers also checks host C per operator); an unsupported operator fails at capture in one line naming it and
listing what is supported."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from hil.board_description import load_board
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
from hil.compiler import float_executor
from hil.compiler.bench_layers import (
    CHANNELS,
    INPUT_SHAPE,
    OPERATORS,
    AllLayers,
    Fn,
    OperatorModel,
    ShuffleUnit,
    channel_shuffle,
    measure,
    realistic_inputs,
    seeded,
)
from hil.compiler.calibrate import channel_ranges
from hil.compiler.capture import capture
from hil.compiler.host_model import HostModel
from hil.compiler.ir import to_graph_layout
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.compiler.quantize import fit_exponent
from hil.errors import CompileError
from hil.targets.qemu import QemuSemihostingTarget
from tests.compiler.host_golden import assert_host_c_equals_golden
from tests.compiler.random_models import RandomLayerModel

# The operator's own error (float run from the stem's int8 output) with searched exponents: the lowest is the
# table activation after an add, 31.1 dB (bench_layers --exponents search, 2026-12-04).
MIN_OPERATOR_SNR_DB = 30.0


@pytest.mark.parametrize("name", list(OPERATORS))
def test_operator_error_against_float(name: str, tmp_path) -> None:
    model = seeded(OperatorModel(name), 0)
    _, op_snr, kernels, _ = measure(model, INPUT_SHAPE, tmp_path, "op", host_c=False, exponents="search")
    assert op_snr >= MIN_OPERATOR_SNR_DB, f"{name}: {op_snr:.1f} dB ({kernels})"


def test_input_normalised_to_minus_one_keeps_every_bit() -> None:
    """Pixels (p - 128) / 128 reach -1.0 exactly: the int8 grid's -128 holds it, so the input gets 2^-7 (each pixel
    exact), not the 2^-6 a symmetric fit of max |x| = 1 gave."""
    graph = capture(OperatorModel("relu after add"), torch.zeros(INPUT_SHAPE))
    pixels = [to_graph_layout(x.numpy()) for x in realistic_inputs(INPUT_SHAPE, 4)]
    ranges = channel_ranges(graph, pixels)
    assert ranges[graph.inputs[0]].low.min() == -1.0
    assert fit_exponent(ranges[graph.inputs[0]].extent(), 8) == -7


def test_operator_host_c_equals_golden(tmp_path) -> None:
    """One operator model per new kernel, in host C (the QEMU test below runs all of them in one model)."""
    for name in (
        "flatten + linear",
        "softmax",
        "avg_pool2d 3x3 p1",
        "tanh",
        "grouped conv (4 groups)",
        "prelu (per channel)",
        "conv transpose k4 s2 p1 + bn + relu",
        "squeeze-and-excitation (x * gate per channel)",
        "squeeze-and-excitation with Linear layers (SENet)",
        "gated convolution (a product of two maps)",
        "channel attention (CBAM)",
        "log_softmax",
        "F.pad reflect + conv",
    ):
        _, _, kernels, exact = measure(seeded(OperatorModel(name), 0), INPUT_SHAPE, tmp_path / name, "op")
        assert exact, f"{name}: host C differs from the golden model ({kernels})"


def test_searched_widths_reach_int16_convolutions(tmp_path) -> None:
    """Between two plain convolutions after the stem the search may widen the map (conv2d_a16 on both sides), and
    the compiled model stays host C == golden with a better output."""
    model = seeded(
        nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)
        ),
        0,
    )
    int8_snr, _, _, _ = measure(model, INPUT_SHAPE, tmp_path / "int8", "op", host_c=False)
    snr, _, kernels, exact = measure(model, INPUT_SHAPE, tmp_path / "search", "op", True, "search", 10**6)
    assert "conv2d_a16" in kernels and exact, kernels
    assert snr > int8_snr, (int8_snr, snr)  # 29.33 -> 30.25 dB (2026-12-04)


def test_float_graph_matches_torch() -> None:
    model = seeded(AllLayers(), 1)
    x = realistic_inputs(INPUT_SHAPE, 1)[0]
    with torch.no_grad():
        expected = model(x)
    got = float_executor.outputs(capture(model, x), [to_graph_layout(x.numpy())])
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, to_graph_layout(e.numpy()), atol=1e-5)


@pytest.mark.parametrize(
    "name",
    [
        "leaky_relu",
        "hardswish",
        "gelu",
        "gelu (tanh)",
        "elu",
        "celu",
        "selu",
        "softplus",
        "mish",
        "logsigmoid",
        "prelu (one slope)",
        "abs",
        "x ** 2",
        "log(x + 1)",
        "sqrt",
        "rsqrt(x + 1)",
        "sin",
    ],
)
def test_a_table_activation_computes_what_torch_does(name: str) -> None:
    """The float function a table is filled from is torch's (the operator tests measure against it, so a wrong
    formula would pass there): over inputs far out on both sides, where softplus switches to x above its threshold."""
    model = seeded(OperatorModel(name), 0)
    x = realistic_inputs(INPUT_SHAPE, 1)[0] * 8.0
    with torch.no_grad():
        expected = model(x)
    (got,) = float_executor.outputs(capture(model, x), [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, to_graph_layout(expected.numpy()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in OPERATORS if n.startswith("conv transpose")])
def test_a_transposed_convolution_computes_what_torch_does(name: str) -> None:
    """As zeros inserted between the pixels, then a convolution with the kernel flipped: torch's output, also with
    output_padding and a BatchNorm folded in after it."""
    model = seeded(OperatorModel(name), 0)
    x = realistic_inputs(INPUT_SHAPE, 1)[0]
    with torch.no_grad():
        expected = model(x)
    graph = capture(model, x)
    for got in (
        float_executor.outputs(graph, [to_graph_layout(x.numpy())]),
        float_executor.outputs(optimize(graph), [to_graph_layout(x.numpy())]),
    ):
        np.testing.assert_allclose(got[0], to_graph_layout(expected.numpy()), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["conv transpose k2 s2 + bn + relu", "pixel shuffle x2"])
def test_kernel_equal_to_stride_runs_as_a_pointwise_convolution_then_depth_to_space(name: str) -> None:
    """A U-Net's 2x2 stride-2 transposed convolution writes one output block per input pixel: a 1x1 convolution to
    4x the channels then depth_to_space (no zeros inserted, no MACs spent on them), its BatchNorm and ReLU hoisted
    over the move into the convolution; a pixel shuffle is the same move. Both compute what torch does."""
    model = seeded(OperatorModel(name), 0)
    x = realistic_inputs(INPUT_SHAPE, 1)[0]
    with torch.no_grad():
        expected = to_graph_layout(model(x).numpy())
    graph = optimize(capture(model, x))
    assert [n.op for n in graph.nodes] == ["conv2d", "conv2d", "depth_to_space"], graph.nodes
    conv, move = graph.nodes[1:]
    assert move.attrs["factor"] == (2, 2) and graph.tensors[conv.output].shape[-1] == 4 * expected.shape[-1]
    if name.startswith("conv transpose"):
        assert conv.params["weight"].shape[2:] == (1, 1) and conv.attrs["activation"] == "relu"
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


class _ReadTwice(nn.Module):
    """An upsampled map and its source both read twice: nothing may move over an upsampling another layer reads."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = self.conv(x)
        up = F.interpolate(y, scale_factor=2)
        return F.relu(self.bn(F.interpolate(y, scale_factor=(1, 2)))), y, F.relu(up), up


def test_a_batchnorm_and_relu_move_over_an_upsampling_only_when_they_alone_read_it() -> None:
    model = seeded(_ReadTwice(), 2)
    x = realistic_inputs((1, 3, 6, 6), 1)[0]
    with torch.no_grad():
        expected = model(x)
    graph = optimize(capture(model, x))
    # The (1, 2) upsampling's BatchNorm and ReLU run before it, on the convolution's output, as a depthwise
    # convolution (the output read twice, nothing folds them further); the 2x2 upsampling's ReLU stays after it.
    conv, up, bn, _, relu = graph.nodes
    assert [n.op for n in graph.nodes] == ["conv2d", "upsample_nearest", "conv2d", "upsample_nearest", "activation"]
    assert bn.inputs == [conv.output] and bn.attrs["groups"] == 4 and bn.attrs["activation"] == "relu"
    assert relu.inputs == [up.output]
    got = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, to_graph_layout(e.numpy()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("gated", "function"),
    [
        (lambda x: x * torch.sigmoid(x), "silu"),
        (lambda x: torch.sigmoid(x) * x, "silu"),
        (lambda x: x.mul_(x.sigmoid()), "silu"),
        (lambda x: x * F.hardsigmoid(x), "hardswish"),
        (lambda x: x * F.relu6(x + 3) / 6, "hardswish"),
        (lambda x: x * F.hardtanh(x + 3.0, 0.0, 6.0) * torch.tensor(1 / 6), "hardswish"),
        (lambda x: x * torch.tanh(F.softplus(x)), "mish"),
        (lambda x: x * torch.sigmoid(1.702 * x), "gated"),
        (lambda x: x * torch.tanh(F.softplus(x, beta=2.0)), "gated"),
        (lambda x: x * x, "gated"),
    ],
    ids=[
        "x * sigmoid(x)",
        "sigmoid(x) * x",
        "timm's x.mul_(x.sigmoid())",
        "x * hardsigmoid(x)",
        "MobileNetV3's x * relu6(x + 3) / 6",
        "hardtanh and a float32 1 / 6",
        "mish",
        "QuickGELU",
        "softplus beta 2",
        "x * x",
    ],
)
def test_an_activation_written_as_x_times_a_gate_is_one_table(gated, function: str) -> None:
    """SiLU, hardswish, Mish and QuickGELU as models write them by hand (YOLOv5's and EfficientNet's Swish, timm's
    in-place one, MobileNetV3's h_swish, CLIP's QuickGELU): the product, with the constant arithmetic around it, is
    one table activation named after the function it equals, the gate's own nodes are dropped, and it computes what
    torch does."""
    model = seeded(Fn(gated), 0)
    x = realistic_inputs(INPUT_SHAPE, 1)[0] * 4
    with torch.no_grad():
        expected = to_graph_layout(model(x.clone()).numpy())
    graph = optimize(capture(model, x))
    assert [(n.op, n.attrs.get("function")) for n in graph.nodes] == [("activation", function)]
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_product_that_is_no_gate_of_its_other_factor_is_named() -> None:
    """x times a gate per row or per column (a [1, C, H, 1] or [1, 1, 1, W] map) is no element-wise function of x,
    no tensor of its shape and no gate per channel or per pixel: one line naming the forms."""
    for product in (
        lambda x: x * F.adaptive_avg_pool2d(x, (x.shape[2], 1)),
        lambda x: x * torch.sigmoid(F.adaptive_avg_pool2d(x[:, :1], (1, x.shape[3]))),
    ):
        with pytest.raises(CompileError, match=r"a product of two tensors is supported only as x times an element-w"):
            capture(_Unsupported(Fn(product)).eval(), torch.zeros(1, 3, 8, 8))


def test_spatial_attention_is_a_gate_per_pixel(tmp_path) -> None:
    """CBAM's spatial attention: the mean over the channels is a 1x1 convolution of weights 1 / C, the max is
    channel_max, and the map times the [1, 1, H, W] gate is one multiply reading the map and then the gate, which
    runs scale_pixels_s8; it computes what torch does, and host C equals the golden model. A mean over the channels
    that drops the channel axis fails naming keepdim."""
    model = seeded(OperatorModel("spatial attention (CBAM: x * gate per pixel)"), 0)
    x = realistic_inputs(INPUT_SHAPE, 1)[0] * 4
    with torch.no_grad():
        expected = to_graph_layout(model(x.clone()).numpy())
    graph = optimize(capture(model, x))
    (mean,) = [n for n in graph.nodes if n.op == "conv2d" and n.params["weight"].shape == (1, CHANNELS, 1, 1)]
    np.testing.assert_array_equal(mean.params["weight"], np.full((1, CHANNELS, 1, 1), 1 / CHANNELS))
    (scale,) = [n for n in graph.nodes if n.op == "multiply"]
    assert "channel_max" in [n.op for n in graph.nodes]
    h, w = INPUT_SHAPE[2:]
    assert graph.tensors[scale.inputs[0]].shape == (1, h, w, CHANNELS)
    assert graph.tensors[scale.inputs[1]].shape == (1, h, w, 1)
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    _, _, kernels, exact = measure(model, INPUT_SHAPE, tmp_path, "op")
    assert "scale_pixels_s8" in kernels and exact, kernels
    with pytest.raises(CompileError, match=r"the mean over the channels must keep the map's shape \(keepdim=True\)"):
        capture(_Unsupported(Fn(lambda x: x * torch.mean(x, 1))).eval(), torch.zeros(1, 3, 8, 8))


@pytest.mark.parametrize(
    "gated",
    [
        lambda x: F.hardsigmoid(x.mean((2, 3), keepdim=True)) * x,
        lambda x: x * torch.sigmoid(F.adaptive_avg_pool2d(x, 1) * 2 - 1),
    ],
    ids=["torchvision's scale * input", "EfficientNet's x * sigmoid(squeezed)"],
)
def test_a_squeeze_and_excitation_gate_is_one_multiply(gated) -> None:
    """A map times a [1, C, 1, 1] gate of its channels, in either order, is one multiply node reading the map and
    then the gate, and computes what torch does."""
    model = seeded(Fn(gated), 0)
    x = realistic_inputs(INPUT_SHAPE, 1)[0] * 4
    with torch.no_grad():
        expected = to_graph_layout(model(x.clone()).numpy())
    graph = optimize(capture(model, x))
    (scale,) = [n for n in graph.nodes if n.op == "multiply"]
    assert scale.inputs[0] == graph.inputs[0] and graph.tensors[scale.inputs[1]].shape == (1, 1, 1, 3)
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


class _Shuffled(nn.Module):
    """A shuffle after a concatenation (a data move), and one right after a plain convolution (folded into it)."""

    def __init__(self) -> None:
        super().__init__()
        self.unit, self.conv = ShuffleUnit(), nn.Conv2d(CHANNELS, CHANNELS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.unit(x)
        return channel_shuffle(self.conv(x), 4) + x


def test_a_channel_shuffle_is_one_permutation_or_none(tmp_path) -> None:
    """ShuffleNetV2's chunk, view, transpose and view back capture as channel slices and one permute_channels; a
    shuffle right after a plain convolution reorders that convolution's output channels instead. Float and host C
    == golden."""
    model = seeded(nn.Sequential(nn.Conv2d(3, CHANNELS, 3, padding=1), _Shuffled()), 0)
    x = realistic_inputs(INPUT_SHAPE, 1)[0] * 4
    with torch.no_grad():
        expected = to_graph_layout(model(x).numpy())
    graph = optimize(capture(model, x))
    assert [n.op for n in graph.nodes].count("slice_channels") == 2
    (shuffle,) = [n for n in graph.nodes if n.op == "permute_channels"]
    assert shuffle.attrs["order"] == (0, 4, 1, 5, 2, 6, 3, 7)
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    calibration = [to_graph_layout(v.numpy()) for v in realistic_inputs(INPUT_SHAPE, 4)]
    compiled = compile_model(model, x, calibration, tmp_path / "c", "shuffled")
    assert_host_c_equals_golden(compiled, calibration[:2], tmp_path / "host", "shuffled")


@pytest.mark.parametrize(
    ("joined", "ops"),
    [
        (lambda a, b: torch.stack((a, b), 2).view(1, 2 * CHANNELS, 16, 16), ["concat_channels", "permute_channels"]),
        (lambda a, b: torch.stack([a, b], dim=1).reshape(1, -1, 16, 16), ["concat_channels"]),
        (lambda a, b: torch.stack((a, b), -3).flatten(1, 2), ["concat_channels", "permute_channels"]),
    ],
    ids=["interleave (ShuffleNet)", "stack then view", "stack at -3 then flatten"],
)
def test_a_stack_viewed_back_as_a_map_is_a_concatenation(joined, ops: list[str]) -> None:
    """torch.stack of two maps along a new axis, then viewed back to [B, 2C, H, W]: their concatenation, and the
    channel permutation the stack's axis makes (none when it is axis 1); it computes what torch does."""
    model = seeded(_TwoBranches(joined), 0)
    x = realistic_inputs(INPUT_SHAPE, 1)[0] * 4
    with torch.no_grad():
        expected = to_graph_layout(model(x).numpy())
    graph = optimize(capture(model, x))
    assert [n.op for n in graph.nodes] == ["conv2d", "conv2d", *ops]
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


class _TwoBranches(nn.Module):
    """Two convolutions of the input, joined by a function of both."""

    def __init__(self, joined) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, CHANNELS, 3, padding=1), nn.Conv2d(3, CHANNELS, 3, padding=1)
        self.joined = joined

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.joined(self.a(x), self.b(x))


@pytest.mark.parametrize(
    ("form", "named"),
    [
        (lambda x: F.relu(x.transpose(2, 3)), "views and transposes of a map must only reorder its channels"),
        (lambda x: x.flatten(2), r"^model output: reads a rearranged \[1, 8, 16, 16\] \(a view or transpose not"),
        (lambda x: F.softmax(x.view(1, 8, 256), -1), r"torch\.softmax #\d+: reads a rearranged .* must end in a view"),
        (lambda x: x.chunk(2, dim=2)[0], r"only chunk along the channels \(dim 1\) of a map is supported, got dim 2"),
        (lambda x: x.mean((2, 3), True).expand_as(x) + x, r"torch\.add #\d+: reads an expanded \[1, C, 1, 1\] gate"),
        (lambda x: x.expand(2, -1, -1, -1), r"only expanding a \[1, C, 1, 1\] gate over a map's pixels is supported"),
        (lambda x: x.mean((2, 3)).view(1, 8, 1, 1, 1), r"rows may be viewed only as \[B, N, 1, 1\], got \(1, 8, 1,"),
        (lambda x: torch.stack((x, x), 0), r"only torch\.stack of maps of one shape along a new axis after the batch"),
        (lambda x: torch.stack((x, x), 3).view(1, 16, 16, 16), r"views and transposes of a map must only reorder its"),
        (lambda x: torch.stack((x, x), 2).flatten(1), r"views of a map as rows must keep torch's channel-major order"),
    ],
    ids=[
        "transpose of rows and columns",
        "output mid-rearrangement",
        "used mid-rearrangement",
        "chunk of rows",
        "an expanded map added",
        "a map expanded over the batch",
        "rows viewed as 5-d",
        "stack along the batch",
        "stack that moves pixels",
        "stack flattened out of order",
    ],
)
def test_a_view_the_compiler_cannot_take_is_named(form, named: str) -> None:
    with pytest.raises(CompileError, match=named) as error:
        capture(nn.Sequential(nn.Conv2d(3, CHANNELS, 3, padding=1), Fn(form)).eval(), torch.zeros(INPUT_SHAPE))
    assert "\n" not in str(error.value)


class _Arithmetic(nn.Module):
    """A convolution, then arithmetic with constants as models write it."""

    def __init__(self, form) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.form = form
        self.register_buffer("mean", torch.tensor([0.1, -0.2, 0.3]).view(1, 3, 1, 1))
        self.std = nn.Parameter(torch.tensor([[[0.5]], [[0.25]], [[2.0]]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.form(self, x)


@pytest.mark.parametrize(
    ("form", "ops"),
    [
        (lambda m, x: m.conv(x) * 0.5 + 1, ["conv2d"]),
        (lambda m, x: 2 - m.conv(x) / 4, ["conv2d"]),
        (lambda m, x: F.relu6(m.conv(x) + 3) / 6, ["conv2d", "activation chain"]),
        (lambda m, x: m.conv((x - m.mean) / m.std), ["conv2d", "conv2d"]),
        (lambda m, x: -F.max_pool2d(m.conv(x), 2), ["conv2d", "maxpool", "activation affine"]),
        (lambda m, x: 1 - F.max_pool2d(m.conv(x), 2) / 2, ["conv2d", "maxpool", "activation affine"]),
        (lambda m, x: 1 - torch.sigmoid(F.max_pool2d(m.conv(x), 2)) * 2, ["conv2d", "maxpool", "activation chain"]),
        (lambda m, x: torch.sigmoid(F.max_pool2d(m.conv(x), 2) - 1), ["conv2d", "maxpool", "activation chain"]),
        (lambda m, x: torch.sub(m.conv(x), 1.0, alpha=2) * (1 / 6), ["conv2d"]),
        (lambda m, x: torch.rsub(F.relu(m.conv(x)), 1.0), ["conv2d", "activation chain"]),
        (lambda m, x: torch.sigmoid(torch.tanh(F.max_pool2d(m.conv(x), 2))), ["conv2d", "maxpool", "activation chain"]),
        (lambda m, x: torch.sigmoid(F.relu(m.conv(x))), ["conv2d", "activation sigmoid"]),
        (lambda m, x: 6 / (torch.sigmoid(m.conv(x)) + 1), ["conv2d", "activation chain"]),
        (lambda m, x: 1 / torch.sqrt(torch.sigmoid(m.conv(x)) + 0.5), ["conv2d", "activation chain"]),
        (lambda m, x: m.conv(x) - 2 * m.conv(x), ["conv2d", "conv2d", "add"]),
        (
            lambda m, x: torch.sub(m.conv(x), F.relu(m.conv(x)), alpha=0.5),
            ["conv2d", "conv2d", "activation chain", "add"],
        ),
        (lambda m, x: torch.add(m.conv(x), m.conv(x), alpha=2), ["conv2d", "conv2d", "add"]),
        (lambda m, x: 2 ** F.max_pool2d(m.conv(x), 2), ["conv2d", "maxpool", "activation chain"]),
        (lambda m, x: torch.pow(0.5, F.max_pool2d(m.conv(x), 2)), ["conv2d", "maxpool", "activation chain"]),
    ],
    ids=[
        "scale and shift fold",
        "constant minus x, divided",
        "relu6(x + 3) / 6 (h_sigmoid)",
        "input normalised by per-channel buffers",
        "negated after a pool",
        "two constants after a pool, one table",
        "1 - 2 sigmoid(x)",
        "sigmoid(x - 1)",
        "sub with alpha",
        "rsub after relu",
        "two tables, one",
        "a relu before a table fuses",
        "a number over x, one table",
        "1 / sqrt(...), one table",
        "x - y, the -1 folded into y's convolution",
        "x - alpha * relu(y), a table after the relu",
        "add with alpha, folded",
        "2 ** x, a table",
        "torch.pow(0.5, x), a table",
    ],
)
def test_arithmetic_with_constants_folds_or_joins_a_table(form, ops: list[str]) -> None:
    """Arithmetic with a number or a per-channel constant folds into the convolution before it, joins the table
    activation (or ReLU) next to it, and runs as a table or 1x1 depthwise convolution only where neither is there;
    two tables in a row are one. It computes what torch does."""
    model = seeded(_Arithmetic(form), 0)
    x = realistic_inputs((1, 3, 8, 8), 1)[0] * 4
    with torch.no_grad():
        expected = to_graph_layout(model(x.clone()).numpy())
    graph = optimize(capture(model, x))
    assert [f"{n.op} {n.attrs['function']}" if n.op == "activation" else n.op for n in graph.nodes] == ops
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("form", "named"),
    [
        (lambda m, x: m.conv(x) / F.relu(m.conv(x)), r"of two maps only their sum \(x \+ y\), .* not div$"),
        (lambda m, x: m.conv(x) - m.conv(x)[:, :1], r"only the sum or difference of two maps \(or rows\) of one shape"),
        (lambda m, x: torch.ones(4, 1, 1) / m.conv(x), r"or of one number by x, is supported \(not a constant per"),
        (lambda m, x: m.conv(x) / 0.0, r"only division by a non-zero constant"),
        (lambda m, x: m.conv(x) // 2, r"operation '__floordiv__' is not supported"),
        (lambda m, x: m.conv(x) + torch.arange(8.0), r"one value per channel, shape \[C, 1, 1\]\); got shape \(8,\)"),
        (lambda m, x: m.conv(x)[:, :1] * m.std, r"keeping their shape; got a nchw tensor of shape \(1, 1, 8, 8\)"),
        (lambda m, x: torch.div(m.conv(x), 2, rounding_mode="floor"), r"division with rounding_mode='floor'"),
        (lambda m, x: m.conv(x).sum(), r"over H and W \(dims 2 and 3\) or over the channels \(dim 1\) .*, got \[\]"),
        (lambda m, x: m.conv(x) ** 0.5, r"only a map or rows to a whole power >= 1 is supported, got 0\.5"),
        (lambda m, x: m.conv(x) ** m.conv(x), r"whole power >= 1 is supported, got a tensor of shape \(1, 4, 8, 8\)$"),
        (lambda m, x: (-2) ** m.conv(x), r"only a number > 0 to the power of a map or rows is supported, got -2$"),
    ],
    ids=[
        "x / y",
        "x - y of two shapes",
        "a constant per channel over x",
        "x / 0",
        "x // 2",
        "a constant per column",
        "broadcast up",
        "floor div",
        "sum of everything",
        "square root",
        "x ** y of two maps",
        "a negative number to the power of x",
    ],
)
def test_arithmetic_the_compiler_cannot_take_is_named(form, named: str) -> None:
    with pytest.raises(CompileError, match=rf"^forward: torch\.\w+ #\d+: .*{named}") as error:
        capture(_Arithmetic(form).eval(), torch.zeros(1, 3, 8, 8))
    assert "\n" not in str(error.value)


def test_a_transposed_convolution_the_compiler_cannot_take_is_named() -> None:
    for layer, named in (
        (nn.ConvTranspose2d(4, 4, 3, stride=2, groups=2), "only groups 1, dilation 1 and zero padding are supported"),
        (nn.ConvTranspose2d(4, 4, 2, stride=2, padding=2), r"padding \(2, 2\) beyond kernel - 1 \(1, 1\)"),
    ):
        with pytest.raises(CompileError, match=rf"^module 'layer' \(ConvTranspose2d\): {named}"):
            capture(_Unsupported(layer).eval(), torch.zeros(1, 3, 8, 8))


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
def test_all_layers_on_qemu_equal_host_c_and_golden(tmp_path) -> None:
    model = seeded(AllLayers(), 1)
    inputs = [to_graph_layout(x.numpy()) for x in realistic_inputs(INPUT_SHAPE, 6)]
    compiled = compile_model(model, torch.zeros(INPUT_SHAPE), inputs[:5], tmp_path / "c", "all_layers")
    sources = compiled.emitted.sources
    q = compiled.qgraph.quantize_input(inputs[5])
    expected = compiled.golden(inputs[5])
    host = HostModel(sources, build_root=tmp_path / "host").run([q])
    board = load_board("mps2-an386")
    image = FirmwareBuilder(tmp_path / "fw").build(BuildRequest(board, sources, "semihosting"))
    target = QemuSemihostingTarget(board, image.elf, tmp_path / "run", run_timeout=120)
    target.start()
    outcome = target.infer([sources.inputs[0].to_bytes(q)])
    device = [spec.from_bytes(data) for spec, data in zip(sources.outputs, outcome.outputs, strict=True)]
    for d, h, e in zip(device, host, expected, strict=True):
        np.testing.assert_array_equal(h, e)
        np.testing.assert_array_equal(d, e)
    assert abs(compiled.qgraph.dequantize(compiled.qgraph.outputs[0], expected[0]).sum() - 1.0) < 0.1  # softmax


class _Unsupported(nn.Module):
    def __init__(self, layer: nn.Module | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.layer(x) if self.layer is not None else torch.floor(x)


@pytest.mark.parametrize(
    ("layer", "named"),
    [
        (None, "operation 'floor'"),
        (nn.GroupNorm(2, 4), "type GroupNorm"),
        (nn.InstanceNorm2d(4, affine=True), "type InstanceNorm2d"),
    ],
)
def test_unsupported_operator_fails_at_capture_in_one_line(layer, named: str) -> None:
    with pytest.raises(CompileError) as error:
        capture(_Unsupported(layer).eval(), torch.zeros(1, 3, 8, 8))
    message = str(error.value)
    assert (
        named in message
        and "supported: modules BatchNorm1d, BatchNorm2d, Conv1d, Conv2d" in message
        and "max_pool2d" in message
    )
    assert "\n" not in message


def test_a_prelu_runs_as_a_table_or_per_channel(tmp_path) -> None:
    """nn.PReLU() (one slope) runs as leaky_relu's table, exact to the int8 grid; a slope per channel
    (MobileFaceNet's, MTCNN's) as prelu_s8, also on Linear's rows."""
    one = capture(_Unsupported(nn.PReLU()).eval(), torch.zeros(1, 3, 8, 8))
    assert one.nodes[-1].op == "activation" and one.nodes[-1].attrs["function"] == "leaky_relu"
    rows = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.PReLU(5)).eval()
    calibration = [np.random.default_rng(i).standard_normal((1, 2, 2, 3)).astype(np.float32) for i in range(4)]
    compiled = compile_model(rows, torch.zeros(1, 3, 2, 2), calibration, tmp_path, "rows")
    assert compiled.qgraph.nodes[-1].kernel == "prelu_s8"
    assert_host_c_equals_golden(compiled, calibration, tmp_path / "host", "prelu on rows")


@pytest.mark.parametrize("move", ["upsample_nearest", "depth_to_space"])
def test_an_upsampling_moves_int16_maps_too(move: str, tmp_path) -> None:
    """An FPN's top-down path (a coarse map upsampled, by nearest copies or a pixel shuffle, and added to a finer
    one) with the upsampling's maps at int16, as the bit-width search may choose them: host C == golden."""
    from hil.compiler.quantize import can_widen
    from tests.compiler.widened import compiled_with

    class TopDown(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.fine = nn.Conv2d(8, 4, 3, padding=1)
            self.coarse = nn.Conv2d(8, 4 if move == "upsample_nearest" else 16, 3, stride=2, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.stem(x))
            coarse = self.coarse(x)
            up = F.interpolate(coarse, scale_factor=2) if move == "upsample_nearest" else F.pixel_shuffle(coarse, 2)
            return self.fine(x) + up

    model = seeded(TopDown(), 3)
    graph = optimize(capture(model, torch.zeros(1, 3, 8, 8)))
    (upsample,) = [n for n in graph.nodes if n.op == move]
    widened = [upsample.inputs[0], upsample.output]
    assert all(can_widen(graph, t) for t in widened)
    inputs = [to_graph_layout(x.numpy()) for x in realistic_inputs((1, 3, 8, 8), 6)]
    compiled = compiled_with(graph, inputs[:4], widened, tmp_path / "c", stream_input=False)
    assert compiled.qgraph.tensors[upsample.output].dtype == "int16"
    assert_host_c_equals_golden(compiled, inputs[4:], tmp_path / "host", f"int16 {move}")


def test_an_upsampling_the_compiler_cannot_take_is_named() -> None:
    for call, named in (
        (lambda x: F.interpolate(x, scale_factor=2, mode="bicubic"), "only nearest upsampling by whole factors and "),
        (lambda x: F.interpolate(x, size=(9, 9)), "bilinear resizing .* are supported, got nearest from 6x6 to 9x9"),
        (lambda x: F.interpolate(x, size=(9, 9), mode="bilinear", antialias=True), "got bilinear from 6x6 to 9x9"),
        (lambda x: F.interpolate(x, scale_factor=1.6, mode="bilinear"), "scale_factor 1.6 does not give a whole size"),
    ):
        with pytest.raises(CompileError, match=named):
            capture(_Unsupported(Fn(call)).eval(), torch.zeros(1, 3, 8, 8))


@pytest.mark.parametrize("seed", range(6))
def test_random_layer_model_host_c_equals_golden(seed: int, tmp_path) -> None:
    model = RandomLayerModel(seed)
    calibration = [to_graph_layout(model.example(i).numpy()) for i in range(1, 5)]
    compiled = compile_model(model, model.example(), calibration, tmp_path / "c", f"random_layers_{seed}")
    inputs = [to_graph_layout(model.example(i).numpy()) for i in (7, 8)]
    assert_host_c_equals_golden(compiled, inputs, tmp_path / "host", f"{model.kinds}")


class _Residual(nn.Module):
    def __init__(self, divide: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.divide = divide

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.conv(x) if self.divide else x + self.conv(x)


def test_a_functional_operation_is_named_after_the_block_that_runs_it() -> None:
    """A sum in a block's forward is called after that block (which residual a report or an error means), one in the
    model's own forward after 'forward'."""

    class Blocks(nn.Module):
        def __init__(self, last: nn.Module) -> None:
            super().__init__()
            self.blocks = nn.Sequential(_Residual(), last)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.blocks(x) + x

    names = [n.name for n in capture(Blocks(_Residual()).eval(), torch.zeros(1, 4, 6, 6)).nodes if n.op == "add"]
    assert [name.split(":")[0] for name in names] == ["blocks.0", "blocks.1", "forward"]
    with pytest.raises(CompileError, match=r"^blocks\.1: torch\.div #\d+: of two maps only their sum"):
        capture(Blocks(_Residual(divide=True)).eval(), torch.zeros(1, 4, 6, 6))
