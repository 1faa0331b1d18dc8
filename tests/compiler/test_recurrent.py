"""torch.nn.GRU and torch.nn.LSTM, as keyword spotters and sequence classifiers write them: after a Conv1d's frames,
straight on a [B, T, K] input, stacked, bidirectional; read as the output's frames, the last frame out[:, -1], their
mean, or the final states h_n[-1] (both directions joined with torch.cat). Each captures, computes what torch does in
float, stays within 30 dB of torch after quantisation, and compiles host C == golden; one of each runs on QEMU.
Before, capture refused both modules by name."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from hil.compiler import float_executor
from hil.compiler.capture import capture
from hil.compiler.ir import to_graph_layout
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.errors import CompileError
from tests.compiler.host_golden import QEMU, assert_host_c_equals_golden, assert_qemu_equals_golden


class ConvGRU(nn.Module):
    """A CRNN keyword spotter: Conv1d over MFCC frames, a GRU over its frames, a Linear on the last frame."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(13, 16, 3, padding=1), nn.BatchNorm1d(16), nn.ReLU())
        self.gru, self.fc = nn.GRU(16, 24, batch_first=True), nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.conv(x).transpose(1, 2))
        return self.fc(out[:, -1, :])


class StackedGRU(nn.Module):
    """Two GRU layers straight on the [B, T, K] input, the last layer's final state h_n[-1] to a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.gru, self.fc = nn.GRU(10, 20, num_layers=2, batch_first=True), nn.Linear(20, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gru(x)[1][-1])


class BidirectionalTagger(nn.Module):
    """A bidirectional GRU and a Linear per frame: the output is [B, T, classes]."""

    def __init__(self) -> None:
        super().__init__()
        self.gru, self.fc = nn.GRU(8, 16, batch_first=True, bidirectional=True), nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gru(x)[0])


class BidirectionalStates(nn.Module):
    """A bidirectional GRU's two final states joined, torch.cat((h_n[-2], h_n[-1]), dim=1), to a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.gru, self.fc = nn.GRU(8, 16, batch_first=True, bidirectional=True), nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x)
        return self.fc(torch.cat((h[-2], h[-1]), dim=1))


class ConvLSTM(nn.Module):
    """A keyword spotter with an LSTM: Conv1d, the LSTM over its frames, the final state h_n[-1] to a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.lstm, self.fc = (
            nn.Conv1d(13, 16, 3, padding=1),
            nn.LSTM(16, 24, batch_first=True),
            nn.Linear(24, 6),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(torch.relu(self.conv(x)).transpose(1, 2))
        return self.fc(h[-1])


class BidirectionalLSTMTagger(nn.Module):
    """Two bidirectional LSTM layers and a Linear per frame."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 12, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(24, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.lstm(x)[0])


class TimeFirstGRU(nn.Module):
    """The older idiom: a Conv1d's sequence permuted to [T, B, C], a two-layer GRU with batch_first=False, and the
    last step out[-1]. With batch 1 the time-first frames are the frames' own bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.gru, self.fc = nn.Conv1d(13, 16, 3, padding=1), nn.GRU(16, 20, num_layers=2), nn.Linear(20, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(torch.relu(self.conv(x)).permute(2, 0, 1).contiguous())
        return self.fc(out[-1])


class TimeFirstLSTMStates(nn.Module):
    """A [B, T, K] input transposed to time first (its values moved once), a bidirectional LSTM, both states."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm, self.fc = nn.LSTM(10, 16, bidirectional=True), nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x.transpose(0, 1))
        return self.fc(torch.cat([h[0], h[1]], dim=1))


class AllStatesJoined(nn.Module):
    """Every final state of a two-layer bidirectional GRU side by side, h_n.transpose(0, 1).reshape(b, -1), to a
    Linear (a common classifier head)."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 12, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(48, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x)
        return self.fc(h.transpose(0, 1).reshape(x.shape[0], -1))


class GRUMean(nn.Module):
    """A GRU's frames averaged over time (a global pool), then a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.gru, self.fc = nn.GRU(8, 16, batch_first=True), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gru(x)[0].mean(1))


CASES = [  # model, input shape, the optimised IR's ops, each recurrent node's last_only
    (ConvGRU, (1, 13, 30), ["conv2d", "gru", "flatten_chw", "linear"], [True]),
    (StackedGRU, (1, 25, 10), ["transpose_rows", "gru", "gru", "flatten_chw", "linear"], [False, True]),
    (
        BidirectionalTagger,
        (1, 20, 8),
        ["transpose_rows", "gru", "gru", "concat_channels", "conv2d", "flatten"],
        [False, False],
    ),
    (
        BidirectionalStates,
        (1, 20, 8),
        ["transpose_rows", "gru", "gru", "flatten_chw", "flatten_chw", "concat_channels", "linear"],
        [True, True],
    ),
    (ConvLSTM, (1, 13, 30), ["conv2d", "lstm", "flatten_chw", "linear"], [True]),
    (
        BidirectionalLSTMTagger,
        (1, 16, 8),
        ["transpose_rows", "lstm", "lstm", "concat_channels", "lstm", "lstm", "concat_channels", "conv2d", "flatten"],
        [False] * 4,
    ),
    (GRUMean, (1, 20, 8), ["transpose_rows", "gru", "avgpool", "linear"], [False]),
    (
        AllStatesJoined,
        (1, 16, 8),
        ["transpose_rows", "gru", "gru", "concat_channels", "gru", "gru"]
        + ["slice_pixels", "flatten_chw"] * 2
        + ["flatten_chw"] * 2
        + ["concat_channels", "linear"],
        [False, False, True, True],
    ),
    (TimeFirstGRU, (1, 13, 30), ["conv2d", "gru", "gru", "flatten_chw", "linear"], [False, True]),
    (
        TimeFirstLSTMStates,
        (1, 20, 10),
        ["transpose_rows", "lstm", "lstm", "flatten_chw", "flatten_chw", "concat_channels", "linear"],
        [True, True],
    ),
]


def _inputs(shape: tuple[int, ...], count: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return [torch.randn(*shape, generator=generator) for _ in range(count)]


def _snr_db(reference: np.ndarray, got: np.ndarray) -> float:
    return float(10 * np.log10((reference**2).mean() / ((got - reference) ** 2).mean()))


@pytest.mark.parametrize(("model_type", "shape", "ops", "finals"), CASES, ids=[c[0].__name__ for c in CASES])
def test_gru_models_compile_as_torch_computes_them(model_type, shape, ops, finals, tmp_path) -> None:
    """The IR's ops (a GRU read only at its final frame writes that frame alone: last_only), the float executor
    against torch, the golden model within 30 dB of torch on inputs it was not calibrated on, host C == golden."""
    torch.manual_seed(3)
    model = model_type().eval()
    inputs = _inputs(shape, 8)
    graph = optimize(capture(model, inputs[0]))
    assert [n.op for n in graph.nodes] == ops
    assert [n.attrs["last_only"] for n in graph.nodes if n.op in ("gru", "lstm")] == finals
    for x in inputs[:2]:
        with torch.no_grad():
            expected = model(x).numpy()
        (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
        np.testing.assert_allclose(got, to_graph_layout(expected, graph.tensors[graph.outputs[0]].shape), atol=1e-5)
    calibration = [to_graph_layout(x.numpy()) for x in inputs[:6]]
    compiled = compile_model(model, inputs[0], calibration, tmp_path / "c", "gru")
    exponent = compiled.qgraph.tensors[compiled.qgraph.outputs[0]].exponent
    for x in inputs[6:]:
        with torch.no_grad():
            expected = to_graph_layout(model(x).numpy(), graph.tensors[graph.outputs[0]].shape)
        (golden,) = compiled.golden(to_graph_layout(x.numpy()))
        assert _snr_db(expected, golden * 2.0**exponent) >= 30
    assert_host_c_equals_golden(compiled, calibration[:2], tmp_path / "host", model_type.__name__)


def test_a_final_state_keeps_the_frames_out_of_the_arena(tmp_path) -> None:
    """With last_only the GRU's output is one frame: the arena of a classifier on 100 frames of 64 units holds no
    [100, 64] map (it would be 6,400 B)."""

    class LongGRU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru, self.fc = nn.GRU(8, 64, batch_first=True), nn.Linear(64, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.gru(x)[0][:, -1])

    torch.manual_seed(0)
    inputs = _inputs((1, 100, 8), 2)
    compiled = compile_model(LongGRU().eval(), inputs[0], [to_graph_layout(x.numpy()) for x in inputs], tmp_path, "g")
    (gru,) = [n for n in compiled.qgraph.nodes if n.kernel == "gru_s8"]
    assert compiled.qgraph.tensors[gru.output].shape == (1, 1, 1, 64)
    assert compiled.memory.arena_bytes < 100 * 64


class _Wrapped(nn.Module):
    def __init__(self, gru: nn.GRU, forward) -> None:
        super().__init__()
        self.gru, self.run = gru, forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(self, x)


@pytest.mark.parametrize(
    ("gru", "forward", "shape", "message"),
    [
        (nn.GRU(8, 4), lambda m, x: m.gru(x)[0], (5, 1, 8), "batch_first=False takes one sequence time first"),
        (
            nn.GRU(8, 4, batch_first=True),
            lambda m, x: m.gru(x, torch.zeros(1, 1, 4))[0],
            (1, 5, 8),
            "an initial state is not supported",
        ),
        (
            nn.GRU(8, 4, num_layers=2, batch_first=True),
            lambda m, x: m.gru(x)[1].permute(1, 0, 2) * 2,
            (1, 5, 8),
            "reads a GRU's or LSTM's final states h_n [B, layers * directions, H] (2 of them); only states as [B, H]",
        ),
        (
            nn.GRU(8, 4, batch_first=True),
            lambda m, x: m.gru(x)[1] * 2,
            (1, 5, 8),
            "final states h_n [layers * directions, B, H] (1 of them); only states as [B, H] rows",
        ),
        (
            nn.GRU(8, 4, batch_first=True),
            lambda m, x: m.gru(x)[0],
            (5, 8),
            "takes frames [B, T, K] (batch_first), got (5, 8) as a flat tensor",
        ),
        (
            nn.LSTM(8, 4, batch_first=True),
            lambda m, x: m.gru(x)[1][1][-1],
            (1, 5, 8),
            "reads an LSTM's final cell states c_n, which the compiled LSTM does not keep",
        ),
        (nn.LSTM(8, 4, batch_first=True, proj_size=2), lambda m, x: m.gru(x)[0], (1, 5, 8), "proj_size=2"),
    ],
    ids=["time first, batch 5", "initial state", "every state", "h_n whole", "unbatched", "cell states", "projection"],
)
@pytest.mark.filterwarnings("ignore:LSTM with projections")  # torch's, from the forward before capture refuses it
def test_what_a_recurrent_layer_cannot_take_fails_in_one_line(gru: nn.Module, forward, shape, message: str) -> None:
    """Time-first input, an initial state, h_n read whole or rearranged, unbatched [T, K] frames, an LSTM's cell
    states and its projection each fail naming what and what is expected."""
    with pytest.raises(CompileError, match=re.escape(message)) as error:
        capture(_Wrapped(gru, forward).eval(), torch.zeros(shape))
    assert "\n" not in str(error.value)


@QEMU
@pytest.mark.parametrize("model_type", [ConvGRU, ConvLSTM])
def test_a_recurrent_spotter_runs_on_the_cortex_m4(model_type, tmp_path) -> None:
    """The keyword spotters' firmware gives the golden outputs under QEMU (gru_s8's and lstm_s8's DSP paths)."""
    torch.manual_seed(3)
    inputs = _inputs((1, 13, 30), 4)
    calibration = [to_graph_layout(x.numpy()) for x in inputs]
    compiled = compile_model(model_type().eval(), inputs[0], calibration, tmp_path / "c", "recurrent")
    assert_qemu_equals_golden(compiled, calibration[1], tmp_path)


@pytest.mark.parametrize(("model_type", "shape", "ops", "finals"), CASES, ids=[c[0].__name__ for c in CASES])
def test_onnx_exports_import_as_from_pytorch(model_type, shape, ops, finals, tmp_path) -> None:
    """torch.onnx's GRU and LSTM nodes (time first, ONNX's gate orders, zeros expanded as the initial states, Y
    squeezed and transposed back, Gather of the last step or a layer's Y_h, the layers' Y_h joined) import as the
    module they came from: the same IR as from PyTorch, computing what torch does."""
    pytest.importorskip("onnx")
    from hil.compiler.onnx_import import load_onnx
    from tests.compiler.test_onnx_import import _export

    torch.manual_seed(3)
    model = model_type().eval()
    (x,) = _inputs(shape, 1)
    graph = optimize(capture(load_onnx(_export(model, shape, tmp_path / "rnn.onnx")), x))
    assert [n.op for n in graph.nodes] == ops
    with torch.no_grad():
        expected = model(x).numpy()
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, to_graph_layout(expected, graph.tensors[graph.outputs[0]].shape), atol=1e-5)


def _onnx_gru(tmp_path, **attrs) -> str:
    """A one-node ONNX GRU (4 inputs, 3 units) with the given attributes, and an initial_h of ones when asked."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    initial = attrs.pop("initial_h", None)
    tensors = [
        numpy_helper.from_array(rng.standard_normal((1, 9, 4)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.standard_normal((1, 9, 3)).astype(np.float32), "R"),
    ]
    inputs = ["x", "W", "R"]
    if initial is not None:
        tensors.append(numpy_helper.from_array(np.full((1, 1, 3), initial, np.float32), "h0"))
        inputs += ["", "", "h0"]
    node = helper.make_node("GRU", inputs, ["y", "y_h"], hidden_size=3, **attrs)
    graph = helper.make_graph(
        [node],
        "gru",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, 4])],
        [helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [1, 1, 3])],
        tensors,
    )
    path = str(tmp_path / "gru.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({}, "linear_before_reset 0 (PyTorch's GRU applies the reset gate after the linear map) is not supported"),
        ({"linear_before_reset": 1, "direction": "reverse"}, "direction reverse is not supported"),
        ({"linear_before_reset": 1, "initial_h": 1.0}, "a nonzero initial_h is not supported"),
    ],
    ids=["reset before the linear map", "reverse alone", "initial state"],
)
def test_onnx_recurrent_nodes_the_kernels_cannot_take_fail_in_one_line(attrs: dict, message: str, tmp_path) -> None:
    """ONNX's default GRU (the reset gate before the linear map), a reverse-only direction and a nonzero initial
    state each fail at import naming the node and what."""
    from hil.compiler.onnx_import import OnnxImportError, load_onnx

    with pytest.raises(OnnxImportError, match=re.escape(message)) as error:
        load_onnx(_onnx_gru(tmp_path, **attrs))
    assert "\n" not in str(error.value) and "ONNX node" in str(error.value)
