"""Sequences [B, C, L] (sensor windows, audio frames): Conv1d, BatchNorm1d, 1-d pools and a sequence viewed as a
map of one row ([B, C, 1, L], for a Conv2d of 1 x k kernels) are the map [B, 1, L, C] to the compiler. They capture,
compute what torch does, compile host C == golden, and import from ONNX as from PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from hil.compiler import float_executor
from hil.compiler.bench_layers import Fn, seeded
from hil.compiler.capture import capture
from hil.compiler.ir import graph_shape, to_graph_layout
from hil.compiler.onnx_import import load_onnx
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.errors import CompileError
from tests.compiler.host_golden import assert_host_c_equals_golden
from tests.compiler.test_onnx_import import _export


class ActivityNet(nn.Module):
    """A 1-d CNN on accelerometer windows (3 axes x 128 samples), as activity-recognition tutorials write it."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(3, 16, 5, padding=2),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 3, padding=1, groups=16),
            nn.Conv1d(32, 32, 1),
            nn.ReLU(),
            nn.AvgPool1d(2),
            nn.Conv1d(32, 32, 3, stride=2),
            nn.ReLU(),
        )
        self.pool, self.fc = nn.AdaptiveAvgPool1d(1), nn.Linear(32, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).squeeze(-1))


class SequenceLabeller(nn.Module):
    """A sequence in and a sequence out: a Conv1d, a Conv2d of 1 x 5 kernels on the sequence viewed as one row, the
    two joined, and a mean over time of another branch."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, (1, 5), padding=(0, 2))
        self.c = nn.Conv1d(16, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = F.relu(self.a(x))
        b = F.relu(self.b(a.unsqueeze(2)).squeeze(2))
        labels = self.c(torch.cat([a, b], 1))
        return labels, labels[:, :2, 4:-4].mean(-1)


class TemporalBlock(nn.Module):
    """A TCN's block as its reference code writes it: dilated causal Conv1d, each output chomped (x[:, :, :-p])
    before its ReLU, and a 1x1 Conv1d on the residual when the widths differ."""

    def __init__(self, inputs: int, outputs: int, dilation: int) -> None:
        super().__init__()
        padding = 2 * dilation
        self.conv1 = nn.Conv1d(inputs, outputs, 3, padding=padding, dilation=dilation)
        self.conv2 = nn.Conv1d(outputs, outputs, 3, padding=padding, dilation=dilation)
        self.padding = padding
        self.downsample = nn.Conv1d(inputs, outputs, 1) if inputs != outputs else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv1(x)[:, :, : -self.padding].contiguous())
        out = F.relu(self.conv2(out)[:, :, : -self.padding].contiguous())
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class TemporalConvNet(nn.Module):
    """Two temporal blocks and a Linear on the last step, y[:, :, -1]."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(TemporalBlock(3, 16, 1), TemporalBlock(16, 16, 2))
        self.linear = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.blocks(x)[:, :, -1])


def _sequences(length: int, count: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return [torch.randn(1, 3, length, generator=generator) for _ in range(count)]


@pytest.mark.parametrize(
    ("model", "length", "ops"),
    [
        (
            ActivityNet(),
            128,
            ["conv2d", "maxpool", "conv2d", "conv2d", "avgpool", "conv2d", "avgpool", "flatten_chw", "linear"],
        ),
        (
            TemporalConvNet(),
            64,
            [
                *["conv2d", "slice_pixels", "conv2d", "slice_pixels", "conv2d", "add"],
                *["conv2d", "slice_pixels", "conv2d", "slice_pixels", "add"],
                *["slice_pixels", "flatten_chw", "linear"],
            ],
        ),
        (
            SequenceLabeller(),
            64,
            ["conv2d", "conv2d", "concat_channels", "conv2d", "slice_channels", "slice_pixels", "avgpool"],
        ),
    ],
    ids=["activity recognition", "temporal convolutions, the last step read", "sequence labelling"],
)
def test_a_sequence_model_compiles_as_a_map_of_one_row(model: nn.Module, length: int, ops: list[str], tmp_path) -> None:
    """Before, an input [B, C, L] failed at capture. Now every sequence is [B, 1, L, C] in the graph, a float
    output of [B, C, L] is laid out alike (to_graph_layout given its IR shape), and the C equals the golden model. A
    TCN's ReLU after its chomp fuses into the convolution before it (the slice only copies), and its last step,
    y[:, :, -1], is a one-sample slice then rows."""
    model = seeded(model, 0)
    x, *calibration = _sequences(length, 5)
    graph = optimize(capture(model, x))
    assert [n.op for n in graph.nodes] == ops
    assert graph.tensors[graph.inputs[0]].shape == (1, 1, length, 3) == graph_shape((1, 3, length))
    with torch.no_grad():
        expected = model(x)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    for g, e, name in zip(got, expected, graph.outputs, strict=True):
        np.testing.assert_allclose(g, to_graph_layout(e.numpy(), graph.tensors[name].shape), atol=1e-5)
    inputs = [to_graph_layout(c.numpy()) for c in calibration]
    compiled = compile_model(model, x, inputs, tmp_path / "c", "sequence")
    assert_host_c_equals_golden(compiled, inputs[:2], tmp_path / "host", type(model).__name__)


@pytest.mark.parametrize("opset", [11, 13])
def test_onnx_sequence_models_import_as_from_pytorch(opset: int, tmp_path) -> None:
    """1-d Conv, MaxPool, AveragePool and GlobalAveragePool, Squeeze and Unsqueeze (axes an attribute before opset
    13, an input from it) give the graph PyTorch gives (they failed before)."""
    for model, length in ((ActivityNet(), 128), (SequenceLabeller(), 64)):
        model = seeded(model, 0)
        path = _export(model, (1, 3, length), tmp_path / f"{type(model).__name__}.onnx", opset=opset)
        x = _sequences(length, 1)[0]
        graph = optimize(capture(load_onnx(path), x))
        assert [n.op for n in graph.nodes] == [n.op for n in optimize(capture(model, x)).nodes]


@pytest.mark.parametrize(
    ("form", "op"),
    [
        (lambda x: F.pad(x, (2, 1)), "zero_pad"),
        (lambda x: F.pad(x, (2, 1), mode="reflect"), "reflect_pad"),
        (lambda x: F.interpolate(x, scale_factor=2), "upsample_nearest"),
        (lambda x: F.interpolate(x, scale_factor=2, mode="linear"), "resize_bilinear"),
        (lambda x: F.interpolate(x, size=23, mode="linear", align_corners=True), "resize_bilinear"),
        (lambda x: x.amax(1, keepdim=True), "channel_max"),
    ],
    ids=["zero pad", "reflect pad", "nearest x2", "linear x2", "linear to 23, align_corners", "amax over channels"],
)
def test_a_sequence_is_padded_resampled_and_reduced_as_its_one_row(form, op: str) -> None:
    """F.pad with a sequence's two pads, F.interpolate (nearest, and mode "linear" as bilinear on one row) and the
    channels' amax: the map ops on the row, computing what torch does."""
    model = seeded(nn.Sequential(nn.Conv1d(3, 4, 3), Fn(form)), 0)
    x = _sequences(16, 1)[0]
    graph = optimize(capture(model, x))
    assert [n.op for n in graph.nodes] == ["conv2d", op]
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    with torch.no_grad():
        expected = to_graph_layout(model(x).numpy(), graph.tensors[graph.outputs[0]].shape)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_graph_layout_of_inputs_and_outputs() -> None:
    """An input's [B, C, L] is the map [B, 1, L, C]; an output's 3-d array keeps its layout when its IR shape is
    3-d (rows concat_rows made), and becomes the map when its IR shape is one."""
    x = np.arange(24).reshape(1, 4, 6)
    np.testing.assert_array_equal(to_graph_layout(x), x.transpose(0, 2, 1)[:, None])
    np.testing.assert_array_equal(to_graph_layout(x, (1, 4, 6)), x)
    np.testing.assert_array_equal(to_graph_layout(x, (1, 1, 6, 4)), x.transpose(0, 2, 1)[:, None])
    assert to_graph_layout(np.zeros((1, 3, 5, 7))).shape == (1, 5, 7, 3)


@pytest.mark.parametrize(
    ("form", "named"),
    [
        (lambda x: x.unsqueeze(-1), r"operation 'unsqueeze' is not supported"),
        (lambda x: torch.stack((x, x), 1), r"only torch\.stack of maps of one shape along a new axis after the batch"),
    ],
    ids=["a view that is no row", "a stack of sequences"],
)
def test_a_form_of_a_sequence_the_compiler_cannot_take_is_named(form, named: str) -> None:
    """Each fails in one line (a stack of sequences raised a ValueError from inside capture)."""
    model = nn.Sequential(nn.Conv1d(3, 4, 3), Fn(form)).eval()
    with pytest.raises(CompileError, match=named) as error:
        capture(model, torch.zeros(1, 3, 16))
    assert "\n" not in str(error.value)
