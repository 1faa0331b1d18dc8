"""Channels-last tensors, as transformers, ConvNeXt, audio models and YOLO heads write them: a sequence's frames
(x.transpose(1, 2)) read by a Linear per frame, a map's tokens (x.flatten(2).transpose(1, 2)), ConvNeXt's
permute(0, 2, 3, 1), LayerNorm and Linear layers and permute back, and YOLO's anchor rows. In the IR's NHWC these are
the map's own bytes; each form failed at capture before. Each captures, computes what torch does, and compiles host
C == golden."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from hil.compiler import float_executor
from hil.compiler.bench_layers import ConvNeXtBlock, TokenMixer, YoloRows, realistic_inputs, seeded
from hil.compiler.capture import capture
from hil.compiler.ir import to_graph_layout
from hil.compiler.onnx_import import load_onnx
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.errors import CompileError
from tests.compiler.host_golden import assert_host_c_equals_golden
from tests.compiler.test_onnx_import import _export


class FrameClassifier(nn.Module):
    """A keyword spotter's frame classifier (CTC-style): Conv1d over MFCC frames, then a Linear per frame on
    y.transpose(1, 2); the output is [B, frames, classes]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(13, 16, 3, padding=1), nn.BatchNorm1d(16), nn.ReLU())
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).transpose(1, 2))


class FrameMean(nn.Module):
    """The frames permuted with permute(0, 2, 1), a Linear and GELU per frame, and the mean over the frames."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv1d(13, 16, 3, padding=1), nn.Linear(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.fc(F.relu(self.conv(x)).permute(0, 2, 1))).mean(1)


class ConvNeXtNet(nn.Module):
    """A patchify stem, one ConvNeXt block, the mean over the map and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.block, self.head = nn.Conv2d(3, 16, 4, stride=4), ConvNeXtBlock(16), nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.stem(x)).mean((-2, -1)))


class Stem(nn.Module):
    """A 3x3 convolution to 8 channels, then the part under test."""

    def __init__(self, part: nn.Module) -> None:
        super().__init__()
        self.conv, self.part = nn.Conv2d(3, 8, 3, padding=1), part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.part(self.conv(x))


def _check(model: nn.Module, x: torch.Tensor, inputs: list[torch.Tensor], ops: list[str], tmp_path) -> None:
    with torch.no_grad():
        expected = model(x)
    graph = optimize(capture(model, x))
    assert [n.op for n in graph.nodes] == ops
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    name = graph.outputs[0]
    assert got.shape == graph.tensors[name].shape
    np.testing.assert_allclose(got, to_graph_layout(expected.numpy(), graph.tensors[name].shape), atol=1e-5)
    calibration = [to_graph_layout(v.numpy()) for v in inputs]
    compiled = compile_model(model, x, calibration, tmp_path / "c", "channels_last")
    assert_host_c_equals_golden(compiled, calibration[:2], tmp_path / "host", type(model).__name__)


def _frames(count: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    return [torch.randn(1, 13, 20, generator=generator) for _ in range(count)]


def test_a_linear_per_frame_of_a_sequence(tmp_path) -> None:
    """y.transpose(1, 2) of a [B, C, L] sequence is the same bytes ([B, 1, L, C] in the IR); the Linear per frame
    is a 1x1 convolution, and the [B, L, classes] output is its rows (a flatten the golden model and C copy)."""
    x, *inputs = _frames(5)
    _check(seeded(FrameClassifier(), 0), x, inputs, ["conv2d", "conv2d", "flatten"], tmp_path)


def test_a_mean_over_frames(tmp_path) -> None:
    """permute(0, 2, 1) is the same transpose; the mean over the frames (dim 1) is a global average pool to rows."""
    x, *inputs = _frames(5)
    _check(seeded(FrameMean(), 0), x, inputs, ["conv2d", "conv2d", "activation", "avgpool"], tmp_path)


def test_a_convnext_block_with_layer_norm_over_channels(tmp_path) -> None:
    """permute(0, 2, 3, 1), LayerNorm (layer_norm_s8), Linear layers as 1x1 convolutions, a GELU, a layer scale
    per channel (folded into the second Linear) and permute(0, 3, 1, 2) back for the residual."""
    x, *inputs = [v * 4 for v in realistic_inputs((1, 3, 32, 32), 5)]
    ops = ["conv2d", "conv2d", "layer_norm", "conv2d", "activation", "conv2d", "add", "avgpool", "linear"]
    _check(seeded(ConvNeXtNet(), 0), x, inputs, ops, tmp_path)


@pytest.mark.parametrize(
    ("part", "ops"),
    [
        (TokenMixer(), ["conv2d", "layer_norm", "conv2d", "activation", "conv2d", "add", "flatten"]),
        (YoloRows(), ["conv2d", "conv2d", "activation", *["slice_channels"] * 3, "concat_rows"]),
    ],
    ids=["transformer tokens", "YOLO anchor rows"],
)
def test_tokens_and_anchor_rows(part: nn.Module, ops: list[str], tmp_path) -> None:
    """A map's tokens x.flatten(2).transpose(1, 2) are its NHWC bytes (a transformer's pre-norm MLP on them);
    YOLO's x.view(b, na, no, ny, nx).permute(0, 1, 3, 4, 2) with a sigmoid on the 5-d tensor, viewed as
    [B, na * ny * nx, no], is concat_rows of the anchors' channel slices."""
    x, *inputs = [v * 4 for v in realistic_inputs((1, 3, 16, 16), 5)]
    _check(seeded(Stem(part), 0), x, inputs, ops, tmp_path)


def test_functional_layer_norm_of_a_permuted_map(tmp_path) -> None:
    """timm's LayerNorm2d: F.layer_norm on x.permute(0, 2, 3, 1) with its own weight and bias, then back."""

    class LayerNorm2d(nn.LayerNorm):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
            return y.permute(0, 3, 1, 2)

    norm = LayerNorm2d(8)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 8))
        norm.bias.copy_(torch.linspace(-0.5, 0.5, 8))
    x, *inputs = [v * 4 for v in realistic_inputs((1, 3, 16, 16), 5)]
    _check(
        seeded(Stem(nn.Sequential(norm, nn.Conv2d(8, 4, 1))), 0),
        x,
        inputs,
        ["conv2d", "layer_norm", "conv2d"],
        tmp_path,
    )


@pytest.mark.parametrize(
    ("forward", "message"),
    [
        (lambda m, x: m.norm(m.conv(x)), "acts on the last axis: it takes [B, N] rows or a channels-last tensor"),
        (lambda m, x: m.conv(x).permute(0, 2, 3, 1), "channels-last [B, H, W, C] map (1, 16, 16, 8) is not supported"),
        (lambda m, x: F.layer_norm(m.conv(x), (16, 16)), "only layer_norm over the last axis is supported"),
        (lambda m, x: m.whole(m.conv(x)), "only LayerNorm over the last axis is supported, got (8, 16, 16)"),
    ],
    ids=["LayerNorm over a map's width", "NHWC map as output", "layer_norm over two axes", "LayerNorm over C, H, W"],
)
def test_what_is_not_supported_fails_in_one_line(forward, message: str) -> None:
    """A LayerNorm over a channels-first map's width, a channels-last 4-d output (to_graph_layout would lay it out
    as NCHW) and a LayerNorm over several axes each fail naming what."""

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm, self.whole = (
                nn.Conv2d(3, 8, 3, padding=1),
                nn.LayerNorm(16),
                nn.LayerNorm([8, 16, 16]),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return forward(self, x)

    with pytest.raises(CompileError, match=re.escape(message)) as error:
        capture(Model(), torch.zeros(1, 3, 16, 16))
    assert "\n" not in str(error.value)


def test_attention_is_named_as_its_module() -> None:
    """nn.MultiheadAttention has weights of its own and a child (out_proj): before, capture ran its forward and
    failed at a transpose deep inside it; now it fails naming the module and its type."""

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.attn = nn.Conv2d(3, 8, 3, padding=1), nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.conv(x).flatten(2).transpose(1, 2)
            return self.attn(tokens, tokens, tokens)[0]

    with pytest.raises(CompileError, match="module 'attn' of type MultiheadAttention is not supported"):
        capture(Model(), torch.zeros(1, 3, 16, 16))


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize(
    ("model", "shape"),
    [(ConvNeXtNet(), (1, 3, 32, 32)), (FrameClassifier(), (1, 13, 20)), (Stem(TokenMixer()), (1, 3, 16, 16))],
    ids=["ConvNeXt", "frames", "tokens"],
)
def test_onnx_exports_import_as_from_pytorch(model: nn.Module, shape: tuple[int, ...], opset: int, tmp_path) -> None:
    """LayerNormalization (opset 17) or LayerNorm spelled out below it (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt,
    Div, then its weight's Mul and bias's Add, which fold into the layer_norm node), Transpose and MatMul with its
    bias Add (a Linear on a 3-d tensor) give the graph PyTorch gives and compute what it computes. The spelled-out
    form failed at its ReduceMean before."""
    model = seeded(model, 0)
    path = _export(model, shape, tmp_path / "model.onnx", opset=opset)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    graph = optimize(capture(load_onnx(path), x))
    assert [n.op for n in graph.nodes] == [n.op for n in optimize(capture(model, x)).nodes]
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(got, to_graph_layout(expected, graph.tensors[graph.outputs[0]].shape), atol=1e-4)


def test_onnx_initializers_deduplicated_as_identity(tmp_path) -> None:
    """torch.onnx keeps one initializer of equal LayerNorm weights and writes the others as Identity nodes of it;
    before, the import failed ('must be a constant'), now Identity folds like the other constant operators."""
    import onnx

    class TwoNorms(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.first, self.second = nn.Conv2d(3, 8, 3, padding=1), nn.LayerNorm(8), nn.LayerNorm(8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.second(F.gelu(self.first(self.conv(x).flatten(2).transpose(1, 2))))

    model = seeded(TwoNorms(), 0)
    path = _export(model, (1, 3, 8, 8), tmp_path / "two_norms.onnx", opset=17)
    assert "Identity" in {node.op_type for node in onnx.load(str(path)).graph.node}
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    graph = optimize(capture(load_onnx(path), x))
    assert [n.op for n in graph.nodes] == ["conv2d", "layer_norm", "activation", "layer_norm", "flatten"]
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), atol=1e-4)


def test_layer_norm_on_rows_and_its_channel_limit(tmp_path) -> None:
    """LayerNorm on [B, N] rows (an MLP's) compiles host C == golden; over more channels than layer_norm_s8 takes
    (4096) the compile fails naming the limit."""
    rows = [torch.randn(1, 24, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    model = seeded(nn.Sequential(nn.Linear(24, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 4)), 0)
    calibration = [v.numpy() for v in rows]
    compiled = compile_model(model, rows[0], calibration, tmp_path / "c", "rows")
    assert [n.kernel for n in compiled.qgraph.nodes][:2] == ["fully_connected_s8", "layer_norm_s8"]
    assert_host_c_equals_golden(compiled, calibration[:2], tmp_path / "host", "rows")
    wide = seeded(nn.Sequential(nn.Linear(8, 4100), nn.LayerNorm(4100)), 0)
    inputs = [torch.randn(1, 8, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    with pytest.raises(CompileError, match="LayerNorm over 4100 channels; layer_norm_s8 takes up to 4096"):
        compile_model(wide, inputs[0], [v.numpy() for v in inputs], tmp_path / "wide", "wide")


def test_yolo_scales_joined_in_one_copy(tmp_path) -> None:
    """torch.cat of two scales' anchor rows: the outer concat_rows reads the anchors' slices itself (before, each
    scale's rows were copied, then copied again into the join)."""

    class TwoScales(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem, self.down = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2, padding=1)
            self.heads = nn.ModuleList([YoloRows(), YoloRows()])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            first = self.stem(x)
            return torch.cat([self.heads[0](first), self.heads[1](self.down(first))], 1)

    x, *inputs = [v * 4 for v in realistic_inputs((1, 3, 16, 16), 5)]
    rows = ["conv2d", "activation", *["slice_channels"] * 3]  # a head's 1x1 convolution, sigmoid, anchors' slices
    ops = ["conv2d", "activation", *rows, "conv2d", *rows, "concat_rows"]  # the second head's ReLU fuses into down
    _check(seeded(TwoScales(), 0), x, inputs, ops, tmp_path)


class SpectrogramCnn(nn.Module):
    """A keyword spotter on [B, frames, MFCCs] input as Honk and many speech-command CNNs write it: x.unsqueeze(1)
    to an image of one channel, Conv2d, and Honk's mean over the pixels viewed as one axis
    (x.view(b, c, -1).mean(2), which failed at capture before) to a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 8, 3, padding=1), nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv(x.unsqueeze(1)))
        return self.fc(y.view(y.size(0), y.size(1), -1).mean(2))


class FramesFirst(nn.Module):
    """A [B, frames, features] input transposed to [B, features, frames] for Conv1d, back to frames for a Linear
    and a ReLU module per frame."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc, self.act = nn.Conv1d(20, 8, 3, padding=1), nn.Linear(8, 6), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(self.conv(x.transpose(1, 2)).transpose(1, 2)))


@pytest.mark.parametrize(
    ("model", "ops"),
    [
        (SpectrogramCnn(), ["transpose_rows", "conv2d", "avgpool", "linear"]),
        (FramesFirst(), ["transpose_rows", "conv2d", "conv2d", "flatten"]),
    ],
    ids=["x.unsqueeze(1) of frames", "frames transposed for Conv1d"],
)
def test_frames_input_read_as_an_image_or_a_sequence(model: nn.Module, ops: list[str], tmp_path) -> None:
    """A [B, 13, 20] input is a sequence to the compiler ([B, 1, 20, 13]); read as an image of one channel
    (unsqueeze(1)) or as frames by a Conv1d after transpose(1, 2), its values are transposed once
    (transpose_rows, a data move). Both failed at capture before."""
    x, *inputs = _frames(5)
    _check(seeded(model, 0), x, inputs, ops, tmp_path)


def test_transpose_rows_moves_int16_values_too(tmp_path) -> None:
    """A Conv1d's output read as a sequence of its frames by another Conv1d (y.transpose(1, 2)), with the
    transpose's tensors at int16 as the bit-width search may choose them: host C == golden (the C copies elements
    of either size)."""
    from hil.compiler.quantize import can_widen
    from tests.compiler.widened import compiled_with

    class Transposed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem, self.first = nn.Conv1d(13, 8, 3, padding=1), nn.Conv1d(8, 8, 1)
            self.second = nn.Conv1d(20, 6, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.second(F.relu(self.first(F.relu(self.stem(x)))).transpose(1, 2))

    x, *inputs = _frames(7)
    graph = optimize(capture(seeded(Transposed(), 0), x))
    assert [n.op for n in graph.nodes] == ["conv2d", "conv2d", "transpose_rows", "conv2d"]
    move = graph.nodes[2]
    widened = [move.inputs[0], move.output]
    assert all(can_widen(graph, t) for t in widened)
    calibration = [to_graph_layout(v.numpy()) for v in inputs]
    compiled = compiled_with(graph, calibration[:4], widened, tmp_path / "c", stream_input=False)
    assert compiled.qgraph.tensors[move.output].dtype == "int16"
    assert_host_c_equals_golden(compiled, calibration[4:], tmp_path / "host", "int16 transpose_rows")
