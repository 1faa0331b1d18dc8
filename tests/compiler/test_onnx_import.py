"""ONNX in: an example exported with torch.onnx and compiled from the .onnx file gives the same integers as the
compile from PyTorch; an operator neither the importer nor the compiler takes, or a damaged file, fails in one
line naming it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from examples.bench import spec_of
from hil.catalog.resolve import resolve_model
from hil.compiler import float_executor
from hil.compiler.bench_layers import CHANNELS, ChannelAttention, ShuffleUnit, SpatialAttention, seeded
from hil.compiler.capture import capture
from hil.compiler.host_model import HostModel
from hil.compiler.ir import to_graph_layout
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.errors import HilError
from tests.compiler.test_user_heads import Focus, Reshaped, SsdHeads

onnx = pytest.importorskip("onnx")
from onnx.reference import ReferenceEvaluator  # noqa: E402

from hil.compiler.onnx_import import OnnxImportError, load_onnx, onnx_input_shape, onnx_output_names  # noqa: E402


def _export(
    model: nn.Module, shape: tuple[int, ...], path: Path, opset: int | None = None, dynamic: dict | None = None
) -> Path:
    """The legacy TorchScript exporter: it works offline (the dynamo exporter needs onnxscript). dynamic names the
    input's axes left open, as `dynamic_axes` does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(shape),),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["scores"],
            opset_version=opset,
            dynamic_axes={"input": dynamic, "scores": dynamic} if dynamic else None,
        )
    return path


def test_resnet8_from_onnx_is_bit_exact_with_pytorch(tmp_path) -> None:
    spec = spec_of("resnet8")
    model = spec.build()
    path = _export(model, spec.input_shape, tmp_path / "resnet8.onnx")
    assert onnx_input_shape(path) == spec.input_shape
    assert onnx_output_names(path) == ("scores",)
    calibration = [to_graph_layout(x[None]) for x in spec.calibration(spec.calibration_count)]
    example = torch.zeros(spec.input_shape)
    from_torch = compile_model(model, example, calibration, tmp_path / "torch", "resnet8")
    from_onnx = compile_model(load_onnx(path), example, calibration, tmp_path / "onnx", "resnet8")
    assert [n.kernel for n in from_onnx.qgraph.nodes] == [n.kernel for n in from_torch.qgraph.nodes]
    for a, b in zip(from_torch.qgraph.nodes, from_onnx.qgraph.nodes, strict=True):
        assert a.params == b.params and a.arrays.keys() == b.arrays.keys()
        for key in a.arrays:
            np.testing.assert_array_equal(a.arrays[key], b.arrays[key], err_msg=f"{a.name} {key}")
    x = to_graph_layout(spec.calibration(spec.calibration_count + 1)[-1][None])
    expected = from_torch.golden(x)
    host = HostModel(from_onnx.emitted.sources, build_root=tmp_path / "host").run([from_onnx.qgraph.quantize_input(x)])
    for h, e in zip(host, expected, strict=True):
        np.testing.assert_array_equal(h, e)


class _Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.floor(self.conv(x))


def test_unsupported_onnx_operator_fails_in_one_line(tmp_path) -> None:
    path = _export(_Scaled().eval(), (1, 3, 8, 8), tmp_path / "scaled.onnx")
    with pytest.raises(OnnxImportError) as error:
        load_onnx(path)
    message = str(error.value)
    assert "operator Floor is not supported; supported: Conv, Gemm" in message and "\n" not in message
    assert isinstance(error.value, HilError)


class _JoinedRows(nn.Module):
    """Two Linear layers' rows joined along dim (1: side by side, a bidirectional GRU's two final states; 0: one
    batch after the other)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.a, self.b, self.dim = nn.Linear(6, 3), nn.Linear(6, 3), dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], dim=self.dim)


def test_rows_side_by_side_import_as_a_channel_concatenation(tmp_path) -> None:
    """torch.cat of [B, N] rows along dim 1 (refused before) is concat_channels of the rows, from PyTorch and from
    ONNX alike, and computes what torch does."""
    model, x = _JoinedRows(1).eval(), torch.randn(1, 6)
    path = _export(model, (1, 6), tmp_path / "joined.onnx")
    for source in (model, load_onnx(path)):
        graph = capture(source, x)
        assert [n.op for n in graph.nodes] == ["linear", "linear", "concat_channels"]
        with torch.no_grad():
            np.testing.assert_allclose(float_executor.outputs(graph, [x.numpy()])[0], model(x).numpy(), atol=1e-6)


def test_onnx_operator_the_compiler_refuses_names_the_node(tmp_path) -> None:
    """Concat of rows along the batch axis converts, but capture takes only concatenations of maps' channels, rows
    side by side or the heads' rows."""
    path = _export(_JoinedRows(0).eval(), (1, 6), tmp_path / "joined.onnx")
    with pytest.raises(OnnxImportError) as error:
        capture(load_onnx(path), torch.zeros(1, 6))
    message = str(error.value)
    assert message.startswith("ONNX node '/Concat' (Concat): ") and "torch.cat" in message and "\n" not in message


@pytest.mark.parametrize("content", [b"", b"\x08\x07garbage\xff" * 10])
def test_damaged_onnx_file_fails_in_one_line(tmp_path, content: bytes) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(OnnxImportError) as error:
        load_onnx(path)
    assert str(error.value).startswith(f"{path}: not a valid ONNX model") and "\n" not in str(error.value)
    with pytest.raises(OnnxImportError, match="no such ONNX file"):
        onnx_input_shape(tmp_path / "missing.onnx")


class _Activations(nn.Module):
    """Each table activation ONNX has an operator for, between convolutions."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else 4, 4, 3, padding=1) for i in range(5))
        self.acts = nn.ModuleList([nn.ELU(0.5), nn.CELU(2.0), nn.Softplus(), nn.GELU(), nn.GELU(approximate="tanh")])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, act in zip(self.convs, self.acts, strict=True):
            x = act(conv(x))
        return x


def test_onnx_activations_import_as_their_torch_functions(tmp_path) -> None:
    """Elu, Celu, Softplus and Gelu (both forms) as a recent exporter writes them (opset 20; earlier ones spell
    Gelu out, below) compute what the PyTorch model does."""
    model = _Activations().eval()
    path = _export(model, (1, 3, 8, 8), tmp_path / "activations.onnx", opset=20)
    assert {n.op_type for n in onnx.load(str(path)).graph.node} >= {"Elu", "Celu", "Softplus", "Gelu"}
    x = torch.randn(1, 3, 8, 8) * 3
    graph = capture(load_onnx(path), x)
    with torch.no_grad():
        expected = model(x)
    from hil.compiler import float_executor

    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, to_graph_layout(expected.numpy()), rtol=1e-4, atol=1e-5)


class _Decoder(nn.Module):
    """A decoder's layers: a PReLU per channel, transposed convolutions (zeros inserted; kernel == stride), a
    nearest upsampling and a pixel shuffle."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(6)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.prelu = nn.PReLU(4)
        self.up = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
        self.block_up = nn.ConvTranspose2d(4, 8, 2, stride=2)
        with torch.no_grad():
            self.prelu.weight.copy_(torch.tensor([-0.2, 0.1, 0.4, 1.1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.block_up(F.interpolate(self.up(self.prelu(self.conv(x))), scale_factor=2)), 2)


def test_onnx_decoder_layers_import_as_their_modules(tmp_path) -> None:
    """PRelu, ConvTranspose, nearest Resize (nn.Upsample's export) and DepthToSpace (pixel_shuffle's) compute what
    the PyTorch model does."""
    path = _export(_Decoder().eval(), (1, 3, 6, 6), tmp_path / "decoder.onnx", opset=17)
    assert {n.op_type for n in onnx.load(str(path)).graph.node} >= {"PRelu", "ConvTranspose", "Resize", "DepthToSpace"}
    x = torch.randn(1, 3, 6, 6) * 3
    with torch.no_grad():
        expected = _Decoder().eval()(x)
    from hil.compiler import float_executor

    (got,) = float_executor.outputs(capture(load_onnx(path), x), [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, to_graph_layout(expected.numpy()), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("align_corners", [False, True])
def test_onnx_linear_resize_imports_as_bilinear(align_corners: bool, tmp_path) -> None:
    """nn.Upsample(mode="bilinear") exports as a linear Resize: it imports as resize_bilinear with PyTorch's
    coordinates (half_pixel, or align_corners), and computes what torch does."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=align_corners)
    ).eval()
    path = _export(model, (1, 3, 8, 8), tmp_path / "bilinear.onnx", opset=17)
    assert "Resize" in {n.op_type for n in onnx.load(str(path)).graph.node}
    x = torch.randn(1, 3, 8, 8)
    graph = optimize(capture(load_onnx(path), x))
    assert [(n.op, n.attrs.get("align_corners")) for n in graph.nodes] == [
        ("conv2d", None),
        ("resize_bilinear", align_corners),
    ]
    from hil.compiler import float_executor

    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    with torch.no_grad():
        np.testing.assert_allclose(got, to_graph_layout(model(x).numpy()), rtol=1e-4, atol=1e-5)


def test_onnx_depth_to_space_in_tensorflows_order_imports(tmp_path) -> None:
    """DepthToSpace mode DCR (ONNX's default, what TensorFlow's exporters write) takes a block's channels block-major:
    its channels are reordered into pixel_shuffle's order first, and the model computes what ONNX's reference
    evaluator does with the file."""
    model = onnx.load(str(_export(_Decoder().eval(), (1, 3, 6, 6), tmp_path / "decoder.onnx", opset=17)))
    (node,) = [n for n in model.graph.node if n.op_type == "DepthToSpace"]
    (mode,) = [a for a in node.attribute if a.name == "mode"]
    mode.s = b"DCR"
    onnx.save(model, str(tmp_path / "dcr.onnx"))
    x = torch.randn(1, 3, 6, 6) * 3
    (expected,) = ReferenceEvaluator(str(tmp_path / "dcr.onnx")).run(None, {"input": x.numpy()})
    graph = optimize(capture(load_onnx(tmp_path / "dcr.onnx"), x))
    assert "permute_channels" in [n.op for n in graph.nodes]
    from hil.compiler import float_executor

    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, to_graph_layout(expected), rtol=1e-4, atol=1e-4)


class _SplitShuffle(nn.Module):
    """ShuffleNetV2's unit (chunk, then a view, transpose and view), then torch.split by sizes and the parts joined
    the other way round."""

    def __init__(self) -> None:
        super().__init__()
        self.unit = ShuffleUnit()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = torch.split(self.unit(x), [3, CHANNELS - 3], dim=1)
        return torch.cat((second, first), dim=1)


def test_onnx_channel_split_and_shuffle_import_as_from_pytorch(tmp_path) -> None:
    """chunk exports as Shape and index arithmetic then Slice, split by sizes as Split, the shuffle as Reshape,
    Transpose and Reshape: the shapes fold at import (ONNX shape inference), and the graph is the one from PyTorch
    (channel slices and one permute_channels), computing what torch does."""
    model, shape = seeded(_SplitShuffle(), 0), (1, CHANNELS, 8, 8)
    path = _export(model, shape, tmp_path / "shuffle.onnx", opset=13)
    assert {n.op_type for n in onnx.load(str(path)).graph.node} >= {"Shape", "Slice", "Split", "Reshape", "Transpose"}
    x = torch.randn(shape)
    graph = optimize(capture(load_onnx(path), x))
    assert [n.op for n in graph.nodes] == [n.op for n in optimize(capture(model, x)).nodes]
    from hil.compiler import float_executor

    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    with torch.no_grad():
        np.testing.assert_allclose(got, to_graph_layout(model(x).numpy()), rtol=1e-4, atol=1e-5)


def test_onnx_exported_with_a_dynamic_batch_imports_at_batch_one(tmp_path) -> None:
    """`dynamic_axes={"input": {0: "batch"}}`, the usual export, leaves every shape in the file open, so ONNX's shape
    inference fixes none of chunk's Shape nodes (that failed). The importer runs what it has built on zeros instead:
    the graph is the one from PyTorch, at batch 1."""
    model, shape = seeded(_SplitShuffle(), 0), (1, CHANNELS, 8, 8)
    path = _export(model, shape, tmp_path / "batch.onnx", opset=13, dynamic={0: "batch"})
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert onnx_input_shape(path) == shape
    x = torch.randn(shape)
    graph = optimize(capture(load_onnx(path), x))
    assert [n.op for n in graph.nodes] == [n.op for n in optimize(capture(model, x)).nodes]


def test_onnx_ssd_heads_import_as_from_pytorch(tmp_path) -> None:
    """SSD's heads exported with a dynamic batch: Transpose, Reshape of the sizes Shape reads, Concat and Softmax on
    the last axis give the graph PyTorch gives, two concat_rows and a softmax."""
    model, shape = seeded(SsdHeads(), 0), (1, 3, 16, 16)
    path = _export(model, shape, tmp_path / "ssd.onnx", opset=13, dynamic={0: "batch"})
    x = torch.randn(shape)
    graph = optimize(capture(load_onnx(path), x))
    assert [n.op for n in graph.nodes] == [n.op for n in optimize(capture(model, x)).nodes]
    assert [n.op for n in graph.nodes][-3:] == ["concat_rows", "concat_rows", "softmax"]


@pytest.mark.parametrize("model", [Focus(), Reshaped()], ids=["YOLOv5 Focus", "pixel_unshuffle, crop, Max, Min"])
def test_onnx_slices_block_moves_and_extrema_import_as_from_pytorch(model: nn.Module, tmp_path) -> None:
    """Slice on one axis at a time (the pixel slices merge back), pixel_unshuffle's Reshape, Transpose and Reshape
    (one space_to_depth), and Max / Min with a constant (a clamp; they were unsupported) give PyTorch's graph."""
    model = seeded(model, 0)
    path = _export(model, (1, 3, 16, 16), tmp_path / "moves.onnx", opset=13)
    x = torch.randn(1, 3, 16, 16)
    graph = optimize(capture(load_onnx(path), x))
    assert [n.op for n in graph.nodes] == [n.op for n in optimize(capture(model, x)).nodes]
    from hil.compiler import float_executor

    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    with torch.no_grad():
        np.testing.assert_allclose(got, to_graph_layout(model(x).numpy()), rtol=1e-4, atol=1e-5)


class _Elementwise(nn.Module):
    """log, sqrt, rsqrt (ONNX: 1 / Sqrt), reciprocal, sin and cos of a positive map."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = torch.sigmoid(self.conv(x)) + 0.1
        return torch.log(y), torch.sqrt(y), torch.rsqrt(y), torch.reciprocal(y), torch.sin(y), torch.cos(y)


def test_onnx_elementwise_functions_import_as_from_pytorch(tmp_path) -> None:
    """Log, Sqrt, Reciprocal, Sin, Cos and Div of a number by a map (they failed) give PyTorch's tables; rsqrt,
    which ONNX writes as 1 / Sqrt(x), is named rsqrt by its values."""
    model, shape = seeded(_Elementwise(), 0), (1, 3, 8, 8)
    path = _export(model, shape, tmp_path / "elementwise.onnx", opset=13)
    x = torch.rand(shape)
    functions = [n.attrs.get("function") for n in optimize(capture(load_onnx(path), x)).nodes]
    assert functions == [n.attrs.get("function") for n in optimize(capture(model, x)).nodes]
    assert functions[-6:] == ["log", "sqrt", "rsqrt", "reciprocal", "sin", "cos"]


def test_onnx_with_an_open_height_and_width_needs_the_input_shape(tmp_path) -> None:
    """A file that leaves height and width open compiles only for a size the user gives (before, each open axis
    silently became 1): without one it fails naming the open axes and --input-shape; a shape that contradicts a
    fixed axis fails naming both; the given shape computes what torch does at that size, through chunk's Shapes."""
    model = seeded(_SplitShuffle(), 0)
    path = _export(model, (1, CHANNELS, 8, 8), tmp_path / "open.onnx", opset=13, dynamic={0: "n", 2: "h", 3: "w"})
    with pytest.raises(OnnxImportError, match=r"leaves h, w open: give the shape with --input-shape") as error:
        onnx_input_shape(path)
    assert "\n" not in str(error.value)
    with pytest.raises(OnnxImportError, match=r"input shape 1,3,12,16 does not fit input 'input' of shape nx8xhxw"):
        load_onnx(path, (1, 3, 12, 16))
    shape = (1, CHANNELS, 12, 16)
    assert onnx_input_shape(path, shape) == shape
    x = torch.randn(shape)
    with torch.no_grad():
        np.testing.assert_allclose(load_onnx(path, shape)(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert resolve_model(str(path), shape).input_shape == shape


class _Attention(nn.Module):
    """CBAM's channel and spatial attention, and a sum over the channels: the reductions ONNX writes as
    GlobalAveragePool, GlobalMaxPool (or MaxPool), ReduceMean, ReduceMax and ReduceSum."""

    def __init__(self) -> None:
        super().__init__()
        self.channel, self.spatial = ChannelAttention(), SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spatial(self.channel(F.relu(x)))
        return torch.cat((x, x.sum(1, keepdim=True)), dim=1)


@pytest.mark.parametrize("opset", [13, 18])
def test_onnx_reductions_import_as_from_pytorch(opset: int, tmp_path) -> None:
    """ReduceMean, ReduceMax and ReduceSum (axes an attribute, or from opset 18 an input) import as torch's mean,
    amax and sum (ReduceMax and ReduceSum failed as unsupported): the graph is the one from PyTorch and computes
    what torch does."""
    model, shape = seeded(_Attention(), 0), (1, CHANNELS, 8, 8)
    path = _export(model, shape, tmp_path / "attention.onnx", opset=opset)
    assert {n.op_type for n in onnx.load(str(path)).graph.node} >= {"ReduceMean", "ReduceMax", "ReduceSum"}
    x = torch.randn(shape)
    graph = optimize(capture(load_onnx(path), x))
    assert [n.op for n in graph.nodes] == [n.op for n in optimize(capture(model, x)).nodes]
    from hil.compiler import float_executor

    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    with torch.no_grad():
        np.testing.assert_allclose(got, to_graph_layout(model(x).numpy()), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("activation", "function"),
    [
        (nn.SiLU(), ("silu", None)),
        (nn.Mish(), ("mish", None)),
        (nn.GELU(), ("gelu", "none")),
        (nn.GELU(approximate="tanh"), ("gelu", "tanh")),
        (nn.Hardswish(), ("hardswish", None)),
    ],
)
def test_an_activation_the_exporter_spells_out_imports_as_one_table(activation, function, tmp_path) -> None:
    """torch.onnx writes SiLU as x * Sigmoid(x) at every opset, Mish as x * Tanh(Softplus(x)), GELU below opset 20
    in Erf (its tanh form in Tanh and chains of Mul) and HardSwish below 14 as x * HardSigmoid(x): each Mul's region
    imports as the one table activation it computes, which computes what torch does."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), activation).eval()
    path = _export(model, (1, 3, 8, 8), tmp_path / "spelled.onnx", opset=13)
    assert "Mul" in {n.op_type for n in onnx.load(str(path)).graph.node}
    x = torch.randn(1, 3, 8, 8) * 3
    graph = capture(load_onnx(path), x)
    assert [(n.op, n.attrs.get("function"), n.attrs.get("approximate")) for n in graph.nodes] == [
        ("conv2d", None, None),
        ("activation", *function),
    ]
    from hil.compiler import float_executor

    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    with torch.no_grad():
        np.testing.assert_allclose(got, to_graph_layout(model(x).numpy()), rtol=1e-4, atol=1e-5)


class _GateReadTwice(nn.Module):
    """x * sigmoid(x) whose gate is an output too: the Sigmoid must run, so the product is a table of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        gate = torch.sigmoid(y)
        return y * gate, gate


class _Glu(nn.Module):
    """A GLU: one convolution gated by another, a product of two maps the compiler has no kernel for."""

    def __init__(self) -> None:
        super().__init__()
        self.value, self.gate = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value(x) * torch.sigmoid(self.gate(x))


def test_a_gate_read_twice_and_a_product_of_two_maps_import(tmp_path) -> None:
    """x * Sigmoid(x) whose Sigmoid is also an output runs the Sigmoid and the SiLU table; a GLU (a Mul of two
    convolutions' maps) is a multiply."""
    x = torch.randn(1, 3, 8, 8) * 3
    graph = capture(load_onnx(_export(_GateReadTwice().eval(), (1, 3, 8, 8), tmp_path / "gate.onnx")), x)
    assert [(n.op, n.attrs.get("function")) for n in graph.nodes] == [
        ("conv2d", None),
        ("activation", "sigmoid"),
        ("activation", "silu"),
    ]
    glu = capture(load_onnx(_export(_Glu().eval(), (1, 3, 8, 8), tmp_path / "glu.onnx")), x)
    assert [n.op for n in glu.nodes] == ["conv2d", "conv2d", "activation", "multiply"]


class _ConstantArithmetic(nn.Module):
    """Arithmetic with constants as exported models hold it: the input normalised per channel, a scale and shift
    after a convolution, hardswish and QuickGELU written out, a learned scale per channel."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(8)
        self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1))
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.gamma = nn.Parameter(torch.tensor([0.5, 1.0, 1.5, 2.0]).view(4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1((x - self.mean) / 0.25) * 0.5 + 1
        y = y * F.relu6(y + 3) / 6
        y = F.max_pool2d(self.conv2(y), 2)
        return (y * torch.sigmoid(1.702 * y)) * self.gamma


def test_onnx_arithmetic_with_constants_imports_as_from_pytorch(tmp_path) -> None:
    """Add, Sub, Mul and Div with a constant operand take the constant as capture does from PyTorch: the same
    graph, computing what torch does."""
    model = _ConstantArithmetic().eval()
    path = _export(model, (1, 3, 8, 8), tmp_path / "arithmetic.onnx", opset=13)
    assert {n.op_type for n in onnx.load(str(path)).graph.node} >= {"Sub", "Div", "Mul", "Add"}
    x = torch.rand(1, 3, 8, 8)
    graph, from_torch = capture(load_onnx(path), x), capture(model, x)
    assert [(n.op, n.attrs.get("function")) for n in optimize(graph).nodes] == [
        (n.op, n.attrs.get("function")) for n in optimize(from_torch).nodes
    ]
    from hil.compiler import float_executor

    (got,) = float_executor.outputs(optimize(graph), [to_graph_layout(x.numpy())])
    with torch.no_grad():
        np.testing.assert_allclose(got, to_graph_layout(model(x).numpy()), rtol=1e-4, atol=1e-5)
