"""RNNPool's output at int16 (the bit-width search's first choice on both face models): rnnpool_layer_s8 writes
int16 rows, the replicate pad copies them, and the MBConv after it expands them with conv2d_a16. The host C equals
the golden model bit for bit in every schedule that runs it: streamed (the front's rows), whole maps (RNNPool into
the padded layout) and unfused (RNNPool, pad and expansion as separate layers), on the face models and on random
models nobody tuned (RNNPool without a pad, the last stage of a streamed front or a layer of its own, read by a
1x1 convolution)."""

from __future__ import annotations

import numpy as np
import pytest

from hil.compiler import golden
from hil.compiler.pipeline import CompiledModel
from hil.compiler.quantize import can_widen, quantize
from hil.errors import CompileError
from tests.compiler.host_golden import assert_host_c_equals_golden
from tests.compiler.widened import compiled_with


def _rnnpool_group(graph) -> tuple[str, str, str]:
    """(RNNPool's input, its output, the pad's output)."""
    rnnpool = next(n for n in graph.nodes if n.op == "rnnpool")
    pad = next(n for n in graph.nodes if n.op == "pad" and n.inputs == [rnnpool.output])
    return rnnpool.inputs[0], rnnpool.output, pad.output


def _widened(m4, calibration_inputs, directory, stream_input: bool, fuse: bool = True) -> CompiledModel:
    _, out, padded = _rnnpool_group(m4.graph)
    return compiled_with(m4.graph, calibration_inputs[:2], [out, padded], directory, stream_input, fuse)


def test_rnnpool_output_and_its_pad_can_be_int16_but_not_its_input(m4) -> None:
    x, out, padded = _rnnpool_group(m4.graph)
    assert can_widen(m4.graph, out) and can_widen(m4.graph, padded)
    assert not can_widen(m4.graph, x)  # RNNPool reads int8 pixels only
    with pytest.raises(CompileError, match=r"no int16 kernels for tensors \['t\d+'\].*rnnpool writes them"):
        quantize(m4.graph, {name: 1.0 for name in m4.graph.tensors}, {x: 16})


@pytest.mark.parametrize(
    ("stream_input", "fuse", "layout"),
    [(True, True, "front"), (False, True, "rnnpool_pad"), (False, False, "node")],
)
def test_int16_rnnpool_host_c_equals_golden(m4, calibration_inputs, tmp_path, stream_input, fuse, layout) -> None:
    compiled = _widened(m4, calibration_inputs, tmp_path / "c", stream_input, fuse)
    _, out, padded = _rnnpool_group(m4.graph)
    steps = compiled.steps
    rnnpool_step = next(s for s in steps if any(n.output == out for n in s.nodes))
    assert rnnpool_step.kind == layout
    expand = next(n for n in compiled.qgraph.nodes if n.inputs == [padded])
    assert expand.kernel == "conv2d_a16" and (expand.params.in_bits, expand.params.out_bits) == (16, 8)
    if fuse:  # the expansion runs inside its MBConv block (the front's last stage, or an mbconv step)
        assert any(expand in s.nodes or any(expand in p.nodes for p in s.parts) for s in steps if s.kind != "node")
    x = calibration_inputs[2]
    values = golden.execute(compiled.qgraph, [compiled.qgraph.quantize_input(x)])
    assert values[out].dtype == np.int16 and np.abs(values[out]).max() > 127  # beyond what int8 could hold
    assert_host_c_equals_golden(compiled, [x], tmp_path / "host", layout)


def test_a_wide_rnnpool_output_is_closer_to_float(m4, calibration_inputs, tmp_path) -> None:
    """What the width buys: RNNPool's output on the held-out image, against the float model's (31.0 dB at int8, 38.2
    at int16 when this was written: the states' own fixed-point error is what is left)."""
    from hil.compiler.float_executor import execute as float_execute

    _, out, _ = _rnnpool_group(m4.graph)
    x = calibration_inputs[2]
    reference = float_execute(m4.graph, [x])[out]
    snrs = []
    for qgraph in (m4.qgraph, _widened(m4, calibration_inputs, tmp_path, True).qgraph):
        value = golden.execute(qgraph, [qgraph.quantize_input(x)])[out]
        snrs.append(golden.snr_db(reference, qgraph.dequantize(out, value)))
    assert snrs[1] > snrs[0] + 5, snrs


@pytest.mark.parametrize("stream_input", [True, False])
@pytest.mark.parametrize("seed", [2, 7, 12, 15])
def test_random_models_with_an_int16_rnnpool_equal_golden(seed: int, stream_input: bool, tmp_path) -> None:
    from hil.compiler.pipeline import compile_model
    from tests.compiler.random_models import RandomModel

    model = RandomModel(seed)
    calibration = [model.example(i).permute(0, 2, 3, 1).numpy() for i in range(1, 4)]
    graph = compile_model(model, model.example(), calibration, tmp_path / "int8", f"random_{seed}").graph
    out = next(n.output for n in graph.nodes if n.op == "rnnpool")
    assert can_widen(graph, out)
    compiled = compiled_with(graph, calibration, [out], tmp_path / "c", stream_input)
    assert compiled.qgraph.tensors[out].dtype == "int16"
    inputs = [model.example(i).permute(0, 2, 3, 1).numpy() for i in (7, 8)]
    assert_host_c_equals_golden(compiled, inputs, tmp_path / "host", f"seed {seed}")
