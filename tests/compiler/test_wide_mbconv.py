"""An MBConv block's expanded and depthwise maps at int16 (what the bit-width search may widen since
depthwise_conv2d_a16 exists): the block stays fused, its row ring and depthwise row hold int16 rows, and the host C
equals the golden model bit for bit in every schedule that runs it: the streamed front's last stage, a fused block
over whole maps with and without its residual add, and unfused layers. Also on random models nobody tuned (MBConv
blocks of every expansion, stride and residual, and standalone depthwise layers), and under QEMU."""

from __future__ import annotations

import numpy as np
import pytest

from hil.compiler import golden
from hil.compiler.quantize import can_widen
from hil.compiler.schedule import align
from tests.compiler.host_golden import QEMU, assert_host_c_equals_golden, assert_qemu_equals_golden
from tests.compiler.widened import compiled_with


def _depthwise_maps(graph, blocks: int) -> list[str]:
    """The depthwise layers' input (the expanded map) and output of the first blocks MBConv blocks."""
    depthwise = [n for n in graph.nodes if n.op == "conv2d" and n.attrs["groups"] > 1][:blocks]
    return [t for n in depthwise for t in (n.inputs[0], n.output)]


def _widened(m4, calibration_inputs, directory, stream_input: bool, fuse: bool = True):
    """The M4 with mob.0 (the streamed front's last stage) and mob.1 (residual) widened inside."""
    return compiled_with(m4.graph, calibration_inputs[:2], _depthwise_maps(m4.graph, 2), directory, stream_input, fuse)


def test_expanded_and_depthwise_maps_can_be_int16(m4) -> None:
    maps = _depthwise_maps(m4.graph, 2)
    assert all(can_widen(m4.graph, t) for t in maps)


@pytest.mark.parametrize(
    ("stream_input", "fuse", "layout"),
    [(True, True, "front"), (False, True, "mbconv"), (False, False, "node")],
)
def test_int16_mbconv_rows_host_c_equals_golden(m4, calibration_inputs, tmp_path, stream_input, fuse, layout) -> None:
    compiled = _widened(m4, calibration_inputs, tmp_path / "c", stream_input, fuse)
    qgraph, steps = compiled.qgraph, compiled.steps
    maps = _depthwise_maps(m4.graph, 2)
    depthwise = [n for n in qgraph.nodes if n.inputs[0] in maps[::2]]
    assert [n.kernel for n in depthwise] == ["depthwise_conv2d_a16"] * 2
    assert all((n.params.in_bits, n.params.out_bits) == (16, 16) for n in depthwise)
    block = next(s for s in steps if any(n is depthwise[0] for p in [s, *s.parts] for n in p.nodes))
    assert block.kind == layout
    if fuse:
        residual = next(s for s in steps if any(n is depthwise[1] for n in s.nodes))
        assert residual.kind == "mbconv" and len(residual.nodes) == 4  # mob.1 keeps its residual add fused
        expand = residual.nodes[0]
        _, _, width, hidden = qgraph.tensors[expand.output].shape
        assert residual.scratch["rows"] == align(3 * width * hidden * 2)  # three int16 expanded rows
        assert residual.scratch["dw_row"] == align(width * hidden * 2)
    x = calibration_inputs[2]
    values = golden.execute(qgraph, [qgraph.quantize_input(x)])
    assert all(values[t].dtype == np.int16 for t in maps) and max(np.abs(values[t]).max() for t in maps) > 127
    assert_host_c_equals_golden(compiled, [x], tmp_path / "host", layout)


@pytest.mark.parametrize("stream_input", [True, False])
@pytest.mark.parametrize("seed", [1, 3, 4, 9, 11])
def test_random_models_with_int16_depthwise_maps_equal_golden(seed: int, stream_input: bool, tmp_path) -> None:
    """Every map a depthwise layer reads or writes that can be int16 is, in fused blocks and standalone layers."""
    from hil.compiler.pipeline import compile_model
    from tests.compiler.random_models import RandomModel

    model = RandomModel(seed)
    calibration = [model.example(i).permute(0, 2, 3, 1).numpy() for i in range(1, 4)]
    graph = compile_model(model, model.example(), calibration, tmp_path / "int8", f"random_{seed}").graph
    maps = [t for t in _depthwise_maps(graph, len(graph.nodes)) if can_widen(graph, t)]
    assert maps, "the model has no depthwise map to widen"
    compiled = compiled_with(graph, calibration, maps, tmp_path / "c", stream_input)
    assert any(n.kernel == "depthwise_conv2d_a16" for n in compiled.qgraph.nodes)
    inputs = [model.example(i).permute(0, 2, 3, 1).numpy() for i in (7, 8)]
    assert_host_c_equals_golden(compiled, inputs, tmp_path / "host", f"seed {seed}")


@QEMU
def test_int16_mbconv_rows_on_qemu_equal_golden(m4, calibration_inputs, tmp_path) -> None:
    """The streamed M4 with widened blocks, built for the Cortex-M4 (the DSP paths of depthwise_conv2d_a16 and
    conv2d_a16) and run under QEMU over semihosting."""
    compiled = _widened(m4, calibration_inputs, tmp_path / "c", True)
    assert_qemu_equals_golden(compiled, calibration_inputs[2], tmp_path)
