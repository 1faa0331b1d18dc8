"""An MBConv block's residual add with int16 on either side (add_a16, what the bit-width search may widen since it
exists): its projection, its sum, and the stream a later block adds to. The host C equals the golden model bit for
bit with the block fused (gen_mbconv_rows_s8 holding an int16 projected row and writing int16 sums) and unfused,
on the M4 and on random models nobody tuned, and under QEMU."""

from __future__ import annotations

import numpy as np
import pytest

from hil.compiler import golden
from hil.compiler.ir import Node
from hil.compiler.quantize import _add, can_widen
from hil.compiler.schedule import align
from hil.errors import CompileError
from tests.compiler.host_golden import QEMU, assert_host_c_equals_golden, assert_qemu_equals_golden
from tests.compiler.widened import compiled_with


def _sums(graph) -> list:
    """The residual adds, in graph order."""
    return [n for n in graph.nodes if n.op == "add"]


# Which of a residual block's tensors are int16: its projection (the add's operand), its sum (the block's
# output, which the next block expands and adds to), or both.
PATTERNS = {"projection": (True, False), "sum": (False, True), "both": (True, True)}


def _projection(graph, add) -> str:
    """The operand a residual add adds to its block's input: the one no convolution reads (the block's input is
    also its expansion's)."""
    return next(t for t in add.inputs if all(n.op != "conv2d" for n in graph.consumers(t)))


def _widened_block(graph, pattern: str) -> tuple[str, list[str]]:
    """The first residual add whose sum L2Norm does not read, and its tensors the pattern widens."""
    add = next(a for a in _sums(graph) if can_widen(graph, a.output))
    wide_projection, wide_sum = PATTERNS[pattern]
    return add.name, [t for t, wide in ((_projection(graph, add), wide_projection), (add.output, wide_sum)) if wide]


def test_the_residual_stream_can_be_int16(m4) -> None:
    """Every sum's operands and output, except a sum L2Norm also reads (l2norm_s8 is int8 only)."""
    graph = m4.graph
    for add in _sums(graph):
        for t in (*add.inputs, add.output):
            read_by_l2norm = any(n.op == "l2norm" for n in graph.consumers(t))
            assert can_widen(graph, t) != read_by_l2norm, t


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_int16_residual_host_c_equals_golden(m4, calibration_inputs, tmp_path, pattern: str, fuse: bool) -> None:
    name, widened = _widened_block(m4.graph, pattern)
    compiled = compiled_with(m4.graph, calibration_inputs[:2], widened, tmp_path / "c", True, fuse)
    qgraph, steps = compiled.qgraph, compiled.steps
    add = next(n for n in qgraph.nodes if n.name == name)
    wide_projection, wide_sum = PATTERNS[pattern]
    assert add.kernel == "add_a16" and add.params.out_bits == (16 if wide_sum else 8)
    assert sorted((add.params.a_bits, add.params.b_bits)) == [8, 16 if wide_projection else 8]
    if fuse:
        block = next(s for s in steps if any(n is add for n in s.nodes))
        assert block.kind == "mbconv"
        projection = block.nodes[2]
        row = align(int(np.prod(qgraph.tensors[projection.output].shape[2:])) * (2 if wide_projection else 1))
        assert block.scratch["project_row"] == row
    x = calibration_inputs[2]
    values = golden.execute(qgraph, [qgraph.quantize_input(x)])
    assert all(values[t].dtype == np.int16 and np.abs(values[t]).max() > 127 for t in widened)
    assert_host_c_equals_golden(compiled, [x], tmp_path / "host", f"{pattern} {'fused' if fuse else 'unfused'}")


def test_an_int16_operand_too_far_from_the_common_exponent_fails_naming_it() -> None:
    """add_a16 shifts an int16 operand at most 14 bits (an int8 one 22): past that, one line naming the operand."""
    node = Node("add", "block.add", ["a", "b"], "sum")
    exponents = {"a": -1, "b": -16, "sum": -3}
    assert _add(node, exponents, {}).kernel == "add_s8"  # 15 bits: within an int8 operand's 22
    message = r"block.add \(add\): operand a \(int16, exponent -1\) is 15 bits from the common exponent -16; an int16 "
    with pytest.raises(CompileError, match=message + "operand may be at most 14$"):
        _add(node, exponents, {"a": 16})
    assert _add(node, {**exponents, "b": -15}, {"a": 16}).params.a_shift == 14


@pytest.mark.parametrize(("kind", "seed"), [("mbconv", 1), ("mbconv", 6), ("mbconv", 10), ("layers", 3), ("layers", 9)])
def test_random_models_with_int16_residual_streams_equal_golden(kind: str, seed: int, tmp_path) -> None:
    """Every sum, and every operand of one, that can be int16 is: MBConv blocks' residuals (RandomModel; fused), and
    sums with an activation after blocks of general layers (RandomLayerModel; unfused)."""
    from hil.compiler.pipeline import compile_model
    from tests.compiler.random_models import RandomLayerModel, RandomModel

    model = RandomModel(seed) if kind == "mbconv" else RandomLayerModel(seed)
    calibration = [model.example(i).permute(0, 2, 3, 1).numpy() for i in range(1, 5)]
    graph = compile_model(model, model.example(), calibration, tmp_path / "int8", f"random_{seed}").graph
    tensors = {t for add in _sums(graph) for t in (*add.inputs, add.output) if can_widen(graph, t)}
    compiled = compiled_with(graph, calibration, sorted(tensors), tmp_path / "c", False)
    assert any(n.kernel == "add_a16" for n in compiled.qgraph.nodes), f"{kind} {seed}: no add widened"
    inputs = [model.example(i).permute(0, 2, 3, 1).numpy() for i in (7, 8)]
    assert_host_c_equals_golden(compiled, inputs, tmp_path / "host", f"{kind} {seed}")


@QEMU
def test_int16_residual_on_qemu_equals_golden(m4, calibration_inputs, tmp_path) -> None:
    """The streamed M4 with its first residual block's projection and sum int16, built for the Cortex-M4 and run
    under QEMU over semihosting."""
    compiled = compiled_with(
        m4.graph, calibration_inputs[:2], _widened_block(m4.graph, "both")[1], tmp_path / "c", True
    )
    assert_qemu_equals_golden(compiled, calibration_inputs[2], tmp_path)
