"""int16 weights on a 1x1 convolution (conv2d_a16_w16), what the bit-width search may choose besides int16
activations: which layers may have them, the C equal to the golden model bit for bit with them in the streamed front's
MBConv, in fused and unfused blocks, on random models nobody tuned and under QEMU, and the search choosing them for
what they cost."""

from __future__ import annotations

import numpy as np
import pytest

from hil.compiler import bit_widths, golden, width_cost
from hil.compiler.quantize import can_widen, quantize, weight_layer, weight_name
from hil.errors import CompileError
from tests.compiler.host_golden import QEMU, assert_host_c_equals_golden, assert_qemu_equals_golden
from tests.compiler.widened import compiled_with


def _rnnpool_output(graph) -> list[str]:
    """RNNPool's output and the pad that shares its grid: int16 together, as the QVGA's search takes them."""
    rnn = next(n.output for n in graph.nodes if n.op == "rnnpool")
    return [rnn, *(n.output for n in graph.consumers(rnn) if n.op == "pad")]


# The front's MBConv expansion reading RNNPool's int16 output (the QVGA's cap), a later block's expansion and
# projection reading int8 rows.
WEIGHTS = ("mob.0.conv.0.0", "mob.1.conv.0.0", "mob.1.conv.2")


def test_only_1x1_convolutions_may_have_int16_weights(m4) -> None:
    """The MBConv expansions and projections may; the int16-weight stem, the depthwise layers and the 3x3 heads may
    not, and quantize refuses them in one line naming what may."""
    graph = m4.graph
    convs = [n for n in graph.nodes if n.op == "conv2d"]
    allowed = {n.name for n in convs if can_widen(graph, weight_name(n.name))}
    assert set(WEIGHTS) <= allowed
    assert allowed == {n.name for n in convs if n.params["weight"].shape[2:] == (1, 1)}
    assert "conv.0" not in allowed and not any(".conv.1." in name for name in allowed)
    assert weight_layer(graph, weight_name("mob.0.conv.0.0")) is next(n for n in convs if n.name == "mob.0.conv.0.0")
    assert weight_layer(graph, convs[0].output) is None and weight_layer(graph, "nothing.weight") is None
    with pytest.raises(CompileError, match=r"only a 1x1 convolution's weights \(<layer>.weight\) may be int16"):
        quantize(graph, {t: 1.0 for t in graph.tensors}, {weight_name("conv.0"): 16})


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("stream_input", [True, False], ids=["streamed", "whole"])
def test_int16_weights_host_c_equals_golden(m4, calibration_inputs, tmp_path, stream_input: bool, fuse: bool) -> None:
    widened = [*_rnnpool_output(m4.graph), *(weight_name(w) for w in WEIGHTS)]
    compiled = compiled_with(m4.graph, calibration_inputs[:2], widened, tmp_path / "c", stream_input, fuse)
    nodes = {n.name: n for n in compiled.qgraph.nodes}
    for name in WEIGHTS:
        assert nodes[name].kernel == "conv2d_a16_w16" and nodes[name].arrays["filter"].dtype == np.int16
        assert np.abs(nodes[name].arrays["filter"]).max() > 2**14  # each channel's largest weight fills int16
    assert nodes["mob.0.conv.0.0"].params.in_bits == 16 and nodes["mob.1.conv.0.0"].params.in_bits == 8
    kinds = {s.kind for s in compiled.steps}
    assert ("front" in kinds) == stream_input and ("mbconv" in kinds) == fuse
    label = f"{'streamed' if stream_input else 'whole'} {'fused' if fuse else 'unfused'}"
    assert_host_c_equals_golden(compiled, [calibration_inputs[2]], tmp_path / "host", label)


def test_int16_weights_bring_the_golden_model_closer_to_float(m4, calibration_inputs, tmp_path) -> None:
    """The point of them: with RNNPool's output and the first expansion's int16, int16 weights on that expansion
    raise its output's SNR against the float model."""
    from hil.compiler import float_executor

    x = calibration_inputs[2]
    expansion = next(n for n in m4.graph.nodes if n.name == "mob.0.conv.0.0").output
    snr = {}
    for weights in ((), ("mob.0.conv.0.0",)):
        widened = [*_rnnpool_output(m4.graph), expansion, *(weight_name(w) for w in weights)]
        compiled = compiled_with(m4.graph, calibration_inputs[:2], widened, tmp_path / str(len(weights)), True)
        q = compiled.qgraph
        expanded = next(n.output for n in q.nodes if n.name == "mob.0.conv.0.0")
        values = golden.execute(q, [q.quantize_input(x)])
        reference = float_executor.execute(m4.graph, [x])[expanded]
        snr[weights] = golden.snr_db(reference, q.dequantize(expanded, values[expanded]))
    assert snr[("mob.0.conv.0.0",)] > snr[()] + 1.0, snr


@pytest.mark.parametrize("seed", [1, 6])
def test_random_models_with_int16_weights_equal_golden(seed: int, tmp_path) -> None:
    """Every 1x1 convolution of a random MBConv model int16-weighted, its activations int8."""
    from hil.compiler.pipeline import compile_model
    from tests.compiler.random_models import RandomModel

    model = RandomModel(seed)
    calibration = [model.example(i).permute(0, 2, 3, 1).numpy() for i in range(1, 5)]
    graph = compile_model(model, model.example(), calibration, tmp_path / "int8", f"random_{seed}").graph
    weights = [weight_name(n.name) for n in graph.nodes if can_widen(graph, weight_name(n.name))]
    compiled = compiled_with(graph, calibration, weights, tmp_path / "c", False)
    assert sum(n.kernel == "conv2d_a16_w16" for n in compiled.qgraph.nodes) == len(weights) > 1
    inputs = [model.example(i).permute(0, 2, 3, 1).numpy() for i in (7, 8)]
    assert_host_c_equals_golden(compiled, inputs, tmp_path / "host", f"random {seed}")


def test_the_search_weighs_int16_weights_by_their_instructions(m4, calibration_inputs) -> None:
    """Offered only the first expansion's weights (RNNPool's output int16 already), the search takes them: no arena
    bytes, conv2d_a16_w16's instructions over the int8 kernel (width_cost) for an int16 input; a latency budget
    below that refuses them."""
    graph, qgraph = m4.graph, m4.qgraph
    name = weight_name("mob.0.conv.0.0")
    offered = [*_rnnpool_output(graph), name]
    taken = bit_widths.search(graph, qgraph, calibration_inputs[:2], None, lambda g: all(t in offered for t in g))
    choice = next(c for c in taken.choices if c.tensors == (name,))
    expansion = next(n for n in qgraph.nodes if n.name == "mob.0.conv.0.0")
    values, macs = int(np.prod(qgraph.tensors[expansion.output].shape)), expansion.macs
    assert choice.layer == "mob.0.conv.0.0" and choice.arena_bytes == 0 and choice.snr_gain_db > 0
    cost = {
        bits: round(width_cost.INT16_WEIGHT_PER_VALUE * values + rate * macs)
        for bits, rate in width_cost.INT16_WEIGHT_PER_MAC.items()
    }
    assert width_cost.extra_instructions(graph, qgraph, {name}) == cost[8]
    # with its input int16, the int16-weight kernel's cost replaces conv2d_a16's terms (RNNPool's int16 store and the
    # pad's copy are not counted)
    assert width_cost.extra_instructions(graph, qgraph, set(offered)) == cost[16]
    held = bit_widths.search(
        graph, qgraph, calibration_inputs[:2], None, lambda g: g == (name,), latency_budget=cost[16] - 1
    )
    assert held.choices == [], held.reason


@QEMU
def test_int16_weights_on_qemu_equal_golden(m4, calibration_inputs, tmp_path) -> None:
    """The streamed M4 with int16 weights in its front's MBConv and a later block, built for the Cortex-M4 (SMLALD)
    and run under QEMU over semihosting."""
    widened = [*_rnnpool_output(m4.graph), *(weight_name(w) for w in WEIGHTS)]
    compiled = compiled_with(m4.graph, calibration_inputs[:2], widened, tmp_path / "c", True)
    assert_qemu_equals_golden(compiled, calibration_inputs[2], tmp_path)
