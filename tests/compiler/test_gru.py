"""torch.nn.GRU, as keyword spotters and sequence classifiers write it: after a Conv1d's frames, straight on a
[B, T, K] input, stacked, bidirectional; read as the output's frames, the last frame out[:, -1], or the final
states h_n[-1] (both directions joined with torch.cat). Each captures, computes what torch does in float, stays
within 30 dB of torch after quantisation, and compiles host C == golden; one runs on QEMU. Before, capture refused
the module by name."""

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


CASES = [  # model, input shape, the optimised IR's ops, each gru node's last_only
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
    assert [n.attrs["last_only"] for n in graph.nodes if n.op == "gru"] == finals
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
        (nn.GRU(8, 4), lambda m, x: m.gru(x)[0], (5, 1, 8), "only batch_first=True is supported"),
        (
            nn.GRU(8, 4, batch_first=True),
            lambda m, x: m.gru(x, torch.zeros(1, 1, 4))[0],
            (1, 5, 8),
            "an initial state is not supported",
        ),
        (
            nn.GRU(8, 4, num_layers=2, batch_first=True),
            lambda m, x: m.gru(x)[1].permute(1, 0, 2).reshape(1, -1),
            (1, 5, 8),
            "only one state as [B, H] rows is supported",
        ),
        (
            nn.GRU(8, 4, batch_first=True),
            lambda m, x: m.gru(x)[1] * 2,
            (1, 5, 8),
            "reads a GRU's or LSTM's final states h_n [layers * directions, B, H] (1 of them)",
        ),
        (
            nn.GRU(8, 4, batch_first=True),
            lambda m, x: m.gru(x)[0],
            (5, 8),
            "takes frames [B, T, K] (batch_first), got (5, 8) as a flat tensor",
        ),
    ],
    ids=["time first", "initial state", "every state", "h_n whole", "unbatched"],
)
def test_what_a_gru_cannot_take_fails_in_one_line(gru: nn.GRU, forward, shape, message: str) -> None:
    """Time-first input, an initial state, h_n read whole or rearranged, and unbatched [T, K] frames each fail
    naming what and what is expected."""
    with pytest.raises(CompileError, match=re.escape(message)) as error:
        capture(_Wrapped(gru, forward).eval(), torch.zeros(shape))
    assert "\n" not in str(error.value)


@QEMU
def test_a_conv_gru_spotter_runs_on_the_cortex_m4(tmp_path) -> None:
    """The CRNN keyword spotter's firmware gives the golden outputs under QEMU (gru_s8's DSP path)."""
    torch.manual_seed(3)
    inputs = _inputs((1, 13, 30), 4)
    calibration = [to_graph_layout(x.numpy()) for x in inputs]
    compiled = compile_model(ConvGRU().eval(), inputs[0], calibration, tmp_path / "c", "gru")
    assert_qemu_equals_golden(compiled, calibration[1], tmp_path)
