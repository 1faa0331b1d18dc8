"""SeeDot-style quantisation of an optimised IR: power-of-two exponents from calibrated ranges, convolution weights
int8 (int16 for the stem, see weight_bits) at one exponent per output channel, int32 biases at each channel's
accumulator exponent, int16 FastGRNN weights and states."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hil.compiler import activations
from hil.compiler.ir import Graph, Node
from hil.compiler.qgraph import DATA_MOVES, QGraph, QNode, QTensor, is_pointwise
from hil.errors import CompileError
from hil.kernels_ref import (
    AddA16Params,
    AddParams,
    AvgPoolParams,
    ConvA16Params,
    ConvParams,
    FullyConnectedA16Params,
    FullyConnectedParams,
    GroupedConvParams,
    L2NormParams,
    LayerNormParams,
    LogSoftmaxParams,
    PoolParams,
    PReluParams,
    ResizeBilinearParams,
    RNNPoolParams,
    ScaleChannelsParams,
    SoftmaxParams,
    check_fastgrnn,
    log_softmax_tables,
    quantize_fastgrnn,
)
from hil.kernels_ref.conv import MAX_SHIFT
from hil.kernels_ref.conv_w16 import MAX_FAN_IN as W16_MAX_FAN_IN
from hil.kernels_ref.eltwise import LAYER_NORM_MAX_CHANNELS, LAYER_NORM_SHIFTS
from hil.kernels_ref.fixed import KernelRangeError
from hil.kernels_ref.gru import check_gru, quantize_gru
from hil.kernels_ref.lstm import check_lstm, quantize_lstm
from hil.kernels_ref.recurrent import STATE_FRAC_BITS

BIAS_LIMIT = 2**30  # pointwise_conv2d_s8's bound on |bias|
H_FRAC_MAX = 14
SAME_EXPONENT = (
    "maxpool",
    "resize_bilinear",
    "flatten_chw",
    "zero_pad",
)  # besides the data moves: ops whose output takes the input's exponent
SOFTMAX_MIN_EXPONENT = -14  # softmax_s8's largest out_frac_bits


# Of the 8 bits an int16 tensor adds, one goes to range: its int8 exponent fits the 4-8 calibration inputs (or the
# exponent search narrowed it where the int8 grid's resolution bought more than clipping cost), and held-out inputs
# pass that range. At int16 resolution costs nothing to spare: the QVGA's mob.0 expansion, narrowed to 0..4 at int8
# and widened, clipped 510 ReLU6 values of test image 84 and turned a face of 0.555 into 0.43.
INT16_HEADROOM_BITS = 1


# A layer's weights, as the bit-width search and quantize's widths name them: a width of 16 under this name gives the
# layer int16 weights (conv2d_a16_w16). IR tensors are named otherwise (t<n>, the model's inputs).
WEIGHT_SUFFIX = ".weight"


def weight_name(layer: str) -> str:
    """The widths key of layer's weights (PyTorch's name for them: mob.0.conv.0.0.weight)."""
    return layer + WEIGHT_SUFFIX


def weight_layer(graph: Graph, name: str) -> Node | None:
    """The layer whose weights name is (weight_name), or None when name is not one (a tensor's)."""
    if name in graph.tensors or not name.endswith(WEIGHT_SUFFIX):
        return None
    layer = name[: -len(WEIGHT_SUFFIX)]
    return next((n for n in graph.nodes if n.name == layer), None)


def can_widen_weights(node: Node, graph: Graph) -> bool:
    """Whether node may have int16 weights (conv2d_a16_w16): a 1x1 convolution (an MBConv's expansion or projection,
    which the fused MBConv runs at any widths) with int8 weights otherwise (not the stem: weight_bits)."""
    if node.op != "conv2d" or node.params["weight"].shape[2:] != (1, 1):
        return False
    plain = node.attrs["groups"] == 1 and node.attrs.get("dilation", (1, 1)) == (1, 1)
    return plain and weight_bits(node, graph) == 8


def exponent_at_width(int8_exponent: int, bits: int) -> int:
    """The exponent of a tensor at bits (8 or 16) whose int8 exponent is int8_exponent: int16 is 8 bits finer less
    INT16_HEADROOM_BITS."""
    return int8_exponent if bits == 8 else int8_exponent - (bits - 8) + INT16_HEADROOM_BITS


def fit_exponent(max_abs: float, bits: int) -> int:
    """The finest e with round(max_abs / 2^e) <= 2^(bits-1) - 1 (SeeDot's ceil(log2 max) - (bits-1), nudged one
    coarser when rounding would saturate)."""
    top = 2 ** (bits - 1) - 1
    if max_abs <= 0:
        return -(bits - 1)
    e = math.ceil(math.log2(max_abs)) - (bits - 1)
    while round(max_abs / 2.0**e) > top:
        e += 1
    return e


def _quantize(values: np.ndarray, exponent: int | np.ndarray, bits: int) -> np.ndarray:
    """values / 2^exponent rounded and saturated to bits; an exponent array broadcasts against values."""
    top = 2 ** (bits - 1) - 1
    dtype = {8: np.int8, 16: np.int16, 32: np.int32}[bits]
    return np.clip(np.round(np.asarray(values, np.float64) / 2.0**exponent), -top - 1, top).astype(dtype)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


class _Groups:
    """Union-find over tensors that must share an exponent (the data moves' inputs and outputs)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, t: str) -> str:
        while self.parent.setdefault(t, t) != t:
            t = self.parent[t]
        return t

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def weight_bits(node: Node, graph: Graph) -> int:
    """16 for a standard convolution that reads a model input (the stem) and has a small fan-in, else 8. The face
    models' stem is a 3x3 high-pass filter on the mean-subtracted image: its products of large pixel values
    cancel, so int8 weights' rounding errors (~25 dB SNR) would dominate every later layer; with int16 weights
    (conv2d_s8_w16) the stem is input-limited, at a negligible cost (36 weights, 0.7 % of the MACs)."""
    _, cin_g, kh, kw = node.params["weight"].shape
    reads_input = node.inputs[0] in graph.inputs
    plain = node.attrs["groups"] == 1 and node.attrs.get("dilation", (1, 1)) == (1, 1)
    return 16 if reads_input and plain and cin_g * kh * kw <= W16_MAX_FAN_IN else 8


def weight_exponents(node: Node, e_in: int, bits: int, e_out: int | None = None) -> np.ndarray:
    """A conv's or linear layer's weight exponent per output channel: the finest that fits the channel's own max |w|
    in bits and keeps its int32 bias within the kernels' bound. One exponent per tensor would fit the largest channel
    only, and a channel of small weights would lose the bits between its range and that channel's.
    Given e_out, the exponents the kernels use: choose_exponents made e_out >= e_in + every e_w, so no shift is
    negative, and a channel whose weights are so small that its shift would pass the kernels' 31 gets the finest
    exponent within it: at shift 31 its products sum to at most fan-in / 2^17 output steps (int8 weights; fan-in / 2^9
    for int16), so the bits it gives up lie below the output's resolution."""
    weight = node.params["weight"]
    max_abs = np.abs(weight).reshape(weight.shape[0], -1).max(axis=1)
    e_w = np.array([fit_exponent(float(m), bits) for m in max_abs], dtype=np.int64)
    bias = node.params.get("bias")
    if bias is not None:
        while (over := np.abs(np.round(bias / 2.0 ** (e_in + e_w))) >= BIAS_LIMIT).any():
            e_w[over] += 1
    return e_w if e_out is None else np.maximum(e_w, e_out - e_in - MAX_SHIFT)


def _inside_fraction(size_in: int, size_out: int, taps: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """Per tap along one axis, the fraction of output positions at which it reads the input, not the padding."""
    rows = np.arange(size_out)[:, None] * stride - pad + np.arange(taps)[None, :] * dilation
    return ((rows >= 0) & (rows < size_in)).mean(axis=0)


def _tap_means(node: Node, graph: Graph, mean: np.ndarray) -> np.ndarray:
    """The mean value each tap of a convolution reads, [C, kh, kw]: the channel's calibration mean where the tap
    lies inside the input, the pad value where it lies in the padding (a 3x3 head on a 4x5 map reads some padding
    at 14 of its 20 positions)."""
    kh, kw = node.params["weight"].shape[2:]
    (_, h, w, _), (_, oh, ow, _) = graph.tensors[node.inputs[0]].shape, graph.tensors[node.output].shape
    (sh, sw), (ph, pw) = node.attrs["stride"], node.attrs["padding"]
    dh, dw = node.attrs.get("dilation", (1, 1))
    inside = np.outer(_inside_fraction(h, oh, kh, sh, ph, dh), _inside_fraction(w, ow, kw, sw, pw, dw))
    pad = node.attrs.get("pad_value", 0.0)
    return mean[:, None, None] * inside + pad * (1.0 - inside)


def corrected_bias(
    node: Node, graph: Graph, e_w: np.ndarray, bits: int, e_in: int, mean: np.ndarray | None
) -> np.ndarray:
    """The layer's float bias less the mean output error its quantised weights add on the calibration inputs: per
    output channel, (W_q - W) applied to the mean each tap reads (bias correction, Nagel et al. 2019). Rounding each
    weight to its channel's grid is unbiased weight by weight, but a channel's errors summed over its fan-in, times
    inputs whose mean is far from zero (every input after a ReLU), shift that channel's whole output map. No mean
    (quantize without calibration means) keeps the bias; so does a channel whose corrected bias would pass
    BIAS_LIMIT."""
    weight, bias = node.params["weight"], node.params.get("bias")
    bias = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, np.float64)
    if mean is None:
        return bias
    scale = 2.0 ** e_w.reshape(-1, *[1] * (weight.ndim - 1)).astype(np.float64)
    error = _quantize(weight, e_w.reshape(scale.shape), bits) * scale - weight
    if weight.ndim == 2:  # linear: [out, in]
        shift = error @ mean
    else:  # conv: [out, in / groups, kh, kw]; output channel o reads the input channels of its group
        groups, cin_g = node.attrs["groups"], weight.shape[1]
        taps = _tap_means(node, graph, mean).reshape(groups, cin_g, *weight.shape[2:])
        shift = (error * taps[np.arange(weight.shape[0]) // (weight.shape[0] // groups)]).sum(axis=(1, 2, 3))
    corrected = bias - shift
    return np.where(np.abs(np.round(corrected / 2.0 ** (e_in + e_w))) < BIAS_LIMIT, corrected, bias)


def hidden_frac_bits(node: Node, prefix: str) -> int:
    """Q format of a cell's state: |h| <= 1 + steps * sigmoid(nu) (z*h + (zeta*(1-z)+nu)*tanh with zeta <= 1)."""
    steps = max(node.attrs["rows"], node.attrs["cols"])
    bound = 1.0 + steps * _sigmoid(float(node.params[f"{prefix}.nu"].ravel()[0]))
    return min(H_FRAC_MAX, 15 - math.ceil(math.log2(bound * 1.0001)))


def _min_output_exponent(node: Node, graph: Graph, exponents: dict[str, int]) -> int | None:
    """The coarsest-of-the-fine bound an op puts on its output exponent (its shifts must not go negative)."""
    if node.op == "conv2d":
        e_in = exponents[node.inputs[0]]
        return e_in + int(weight_exponents(node, e_in, weight_bits(node, graph)).max())
    if node.op == "linear":
        e_in = exponents[node.inputs[0]]
        return e_in + int(weight_exponents(node, e_in, 8).max())
    if node.op == "softmax":
        return SOFTMAX_MIN_EXPONENT
    if node.op == "rnnpool":
        return -hidden_frac_bits(node, "rnn2")
    if node.op == "l2norm":
        return fit_exponent(float(np.abs(node.params["weight"]).max()), 16) - 16
    if node.op == "layer_norm":
        return _layer_norm_gamma_exponent(node) + LAYER_NORM_SHIFTS[0]
    if node.op in ("gru", "lstm"):
        return -STATE_FRAC_BITS
    if node.op == "log_softmax":
        return exponents[node.inputs[0]]
    if node.op == "multiply":
        return exponents[node.inputs[0]] + exponents[node.inputs[1]]  # the product's own grid holds it exactly
    return None


def exponent_groups(graph: Graph) -> _Groups:
    """The tensors that share one exponent, hence one width: a data move's or a SAME_EXPONENT op's inputs and
    output."""
    groups = _Groups()
    for node in graph.nodes:
        if node.op in DATA_MOVES or node.op in SAME_EXPONENT:
            for t in node.inputs:
                groups.union(t, node.output)
    return groups


def choose_exponents(graph: Graph, ranges: dict[str, float], widths: dict[str, int] | None = None) -> dict[str, int]:
    """Every tensor's exponent: from its calibrated range at int8, then at its width (exponent_at_width; widths:
    tensor -> 16 for int16, else 8), shared across data moves, never finer than its producer's accumulator."""
    widths = widths or {}
    groups = exponent_groups(graph)
    group_max: dict[str, float] = {}
    for name in graph.tensors:
        root = groups.find(name)
        group_max[root] = max(group_max.get(root, 0.0), ranges.get(name, 0.0))
    group_bits: dict[str, int] = {}
    for name in graph.tensors:
        root = groups.find(name)
        group_bits[root] = max(group_bits.get(root, 8), widths.get(name, 8))
    group_e = {root: exponent_at_width(fit_exponent(m, 8), group_bits[root]) for root, m in group_max.items()}
    for _ in range(len(graph.nodes) + 1):
        exponents = {name: group_e[groups.find(name)] for name in graph.tensors}
        changed = False
        for node in graph.nodes:
            bound = _min_output_exponent(node, graph, exponents)
            root = groups.find(node.output)
            if bound is not None and group_e[root] < bound:
                group_e[root], changed = bound, True
        if not changed:
            return exponents
    raise CompileError("exponent constraints did not settle")


def _activation(node: Node, e_out: int, bits: int = 8) -> tuple[int, int]:
    top = 2 ** (bits - 1) - 1
    activation = node.attrs.get("activation")
    if activation == "relu":
        return 0, top
    if activation == "relu6":
        return 0, min(top, math.floor(6.0 / 2.0**e_out))
    return -top - 1, top


def stem_can_pad_with(pad: float) -> bool:
    """Whether conv2d_s8_w16 can pad with pad steps of its input's grid: an integer in int8's range."""
    return pad == round(pad) and -128 <= pad <= 127


def _pad_value(node: Node, e_in: int, bits: int) -> int:
    """The integer a padded tap reads: the node's pad_value (minus its input's offset, centre.centre_input) on the
    input's grid; only conv2d_s8_w16 (bits 16) pads with anything but 0."""
    pad = node.attrs.get("pad_value", 0.0) / 2.0**e_in
    if pad == 0:
        return 0
    if bits != 16 or not stem_can_pad_with(pad):
        raise CompileError(
            f"{node.describe()}: cannot pad with {pad} steps of its input's grid (an int16-weight stem "
            "pads with an integer in -128..127)"
        )
    return int(pad)


def _conv(node: Node, graph: Graph, e: dict[str, int], widths: dict[str, int], mean: np.ndarray | None) -> QNode:
    """The convolution kernel for the node's shape and widths: conv2d_a16_w16 where its weights are int16
    (widths[weight_name]), conv2d_a16 or depthwise_conv2d_a16 (int8 weights) when an activation is int16, else by
    shape."""
    weight = node.params["weight"]
    cout, cin_g, kh, kw = weight.shape
    _, oh, ow, _ = graph.tensors[node.output].shape
    cin = graph.tensors[node.inputs[0]].shape[3]
    e_in, e_out = e[node.inputs[0]], e[node.output]
    in_bits, out_bits = widths.get(node.inputs[0], 8), widths.get(node.output, 8)
    int16_weights = widths.get(weight_name(node.name), 8) == 16
    wide = (in_bits, out_bits) != (8, 8) or int16_weights
    bits = 16 if int16_weights else 8 if wide else weight_bits(node, graph)
    e_w = weight_exponents(node, e_in, bits, e_out)
    act_min, act_max = _activation(node, e_out)
    (sh, sw), (ph, pw), groups = node.attrs["stride"], node.attrs["padding"], node.attrs["groups"]
    params = ConvParams(sh, sw, ph, pw, act_min, act_max, _pad_value(node, e_in, 8 if wide else bits))
    bias = corrected_bias(node, graph, e_w, bits, e_in, mean)
    arrays = {"bias": _quantize(bias, e_in + e_w, 32), "out_shift": (e_out - e_in - e_w).astype(np.int8)}
    ohwi = weight.transpose(0, 2, 3, 1)
    depthwise = groups == cin == cout and "dilation" not in node.attrs
    if wide:
        params = ConvA16Params(sh, sw, ph, pw, *_activation(node, e_out, out_bits), in_bits, out_bits)
        if depthwise:
            arrays["filter"] = _quantize(weight[:, 0].transpose(1, 2, 0)[None], e_w, 8)  # [1, kh, kw, C]
            kernel = "depthwise_conv2d_a16"
        else:
            arrays["filter"] = _quantize(ohwi, e_w[:, None, None, None], bits)
            kernel = "conv2d_a16_w16" if int16_weights else "conv2d_a16"
    elif bits == 16:
        arrays["filter"] = _quantize(ohwi, e_w[:, None, None, None], 16)
        kernel = "conv2d_s8_w16"
    elif groups == 1 and "dilation" not in node.attrs:
        arrays["filter"] = _quantize(ohwi, e_w[:, None, None, None], 8)
        shapes = graph.tensors[node.inputs[0]].shape, graph.tensors[node.output].shape
        kernel = "pointwise_conv2d_s8" if is_pointwise((kh, kw), (sh, sw), (ph, pw), *shapes) else "conv2d_s8"
    elif depthwise:
        arrays["filter"] = _quantize(weight[:, 0].transpose(1, 2, 0)[None], e_w, 8)  # [1, kh, kw, C]: channel last
        kernel = "depthwise_conv2d_s8"
    else:
        arrays["filter"] = _quantize(ohwi, e_w[:, None, None, None], 8)
        dh, dw = node.attrs.get("dilation", (1, 1))
        params = GroupedConvParams(sh, sw, ph, pw, dh, dw, groups, act_min, act_max)
        kernel = "grouped_conv2d_s8"
    macs = oh * ow * cout * kh * kw * cin_g
    attrs = {"output_hw": (oh, ow), "weight_exponents": [int(e) for e in e_w], "bias_corrected": mean is not None}
    return QNode(kernel, node.name, list(node.inputs), node.output, params, arrays, attrs, macs)


def _rnnpool(node: Node, graph: Graph, e: dict[str, int], widths: dict[str, int]) -> QNode:
    """rnnpool_s8, or rnnpool_offset_s8 with the offset centre.centre_channels put on it; int8 or int16 output (the
    exponent is never finer than the states' Q format: _min_output_exponent)."""
    p, a = node.params, node.attrs
    hf1, hf2 = hidden_frac_bits(node, "rnn1"), hidden_frac_bits(node, "rnn2")
    cells = []
    for prefix, x_exponent, x_max, hf in (("rnn1", e[node.inputs[0]], 128, hf1), ("rnn2", -hf1, 32768, hf2)):
        args = [p[f"{prefix}.{k}"] for k in ("W", "U", "bias_gate", "bias_update")]
        zeta, nu = (float(p[f"{prefix}.{k}"].ravel()[0]) for k in ("zeta", "nu"))
        try:
            cell_params, weights, _ = quantize_fastgrnn(*args, zeta, nu, x_exponent, x_max, hf)
            check_fastgrnn(cell_params, weights, x_max)
        except KernelRangeError as error:
            raise CompileError(f"{node.describe()}: {prefix}: {error}") from error
        cells.append((cell_params, weights))
    (p1, w1), (p2, w2) = cells
    e_out, out_bits = e[node.output], widths.get(node.output, 8)
    params = RNNPoolParams(a["rows"], a["cols"], p1, p2, e_out + hf2, *_activation(node, e_out, out_bits), out_bits)
    arrays = {}
    for prefix, w in (("rnn1", w1), ("rnn2", w2)):
        arrays.update({f"{prefix}_{k}": getattr(w, k) for k in ("w", "u", "bias_gate", "bias_update")})
    _, oh, ow, _ = graph.tensors[node.output].shape
    k, h1, h2, r, c = w1.input_size, w1.hidden_size, w2.hidden_size, a["rows"], a["cols"]
    macs = oh * ow * (2 * r * c * (k * h1 + h1 * h1) + 2 * (r + c) * (h1 * h2 + h2 * h2))
    attrs = {"stride": a["stride"], "rnn1": w1, "rnn2": w2}
    if "offset" not in p:
        return QNode("rnnpool_s8", node.name, list(node.inputs), node.output, params, arrays, attrs, macs)
    # centre.centre_channels put the offset on the states' grid: the int16 values are exact.
    offset = np.round(p["offset"] * 2.0**hf2)
    if np.abs(offset).max() > 32767 or not np.array_equal(offset * 2.0**-hf2, p["offset"]):
        raise CompileError(f"{node.describe()}: the offset is not an int16 in the states' Q{hf2} format")
    arrays["offset"] = offset.astype(np.int16)
    return QNode("rnnpool_offset_s8", node.name, list(node.inputs), node.output, params, arrays, attrs, macs)


def _add(node: Node, e: dict[str, int], widths: dict[str, int]) -> QNode:
    """add_s8 when both operands and the sum are int8, else add_a16; each operand's shift to the common exponent
    within its kernel's bound (30 - bits: the int32 sum of two terms stays within 2^30)."""
    a, b = node.inputs
    bits = [widths.get(t, 8) for t in (a, b, node.output)]
    ea, eb, eo = e[a], e[b], e[node.output]
    ec = min(ea, eb, eo)
    for t, exponent, width in ((a, ea, bits[0]), (b, eb, bits[1])):
        if exponent - ec > 30 - width:
            raise CompileError(
                f"{node.describe()}: operand {t} (int{width}, exponent {exponent}) is {exponent - ec} bits from the "
                f"common exponent {ec}; an int{width} operand may be at most {30 - width}"
            )
    clamp = _activation(node, eo, bits[2])
    if bits == [8, 8, 8]:
        return QNode("add_s8", node.name, list(node.inputs), node.output, AddParams(ea - ec, eb - ec, eo - ec, *clamp))
    params = AddA16Params(ea - ec, eb - ec, eo - ec, *clamp, *bits)
    return QNode("add_a16", node.name, list(node.inputs), node.output, params)


def _l2norm(node: Node, e: dict[str, int]) -> QNode:
    gamma = node.params["weight"]
    e_g = fit_exponent(float(np.abs(gamma).max()), 16)
    params = L2NormParams(e[node.output] - e_g)
    if not -16 <= params.out_shift <= 32:
        raise CompileError(f"{node.describe()}: L2Norm output shift {params.out_shift} outside -16..32")
    return QNode("l2norm_s8", node.name, list(node.inputs), node.output, params, {"gamma": _quantize(gamma, e_g, 16)})


def _layer_norm_gamma(node: Node) -> np.ndarray:
    """The per-channel factor layer_norm_s8 multiplies by: weight * sqrt(C), since it divides by the centred sum
    of squares' root, sqrt(C) times the standard deviation."""
    weight = node.params["weight"].astype(np.float64).ravel()
    return weight * math.sqrt(weight.size)


def _layer_norm_gamma_exponent(node: Node) -> int:
    return fit_exponent(float(np.abs(_layer_norm_gamma(node)).max()), 16)


def _layer_norm(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    """layer_norm_s8: gamma int16 at its finest exponent, beta int32 at 8 bits finer than the output, and eps in
    units of the kernel's sum of squares (sum over C of (C x - sum x)^2, x on the input's grid): eps C^3 / step^2."""
    gamma, e_g = _layer_norm_gamma(node), _layer_norm_gamma_exponent(node)
    channels, e_in, e_out = gamma.size, e[node.inputs[0]], e[node.output]
    if channels > LAYER_NORM_MAX_CHANNELS:
        limit = LAYER_NORM_MAX_CHANNELS
        raise CompileError(f"{node.describe()}: LayerNorm over {channels} channels; layer_norm_s8 takes up to {limit}")
    out_shift = e_out - e_g
    if not LAYER_NORM_SHIFTS[0] <= out_shift <= LAYER_NORM_SHIFTS[1]:
        low, high = LAYER_NORM_SHIFTS
        raise CompileError(f"{node.describe()}: LayerNorm output shift {out_shift} outside {low}..{high}")
    eps = min(round(node.attrs["eps"] * channels**3 * 2.0 ** (-2 * e_in)), 2**31 - 1)
    beta = _quantize(node.params["bias"], e_out - 8, 32)
    params = LayerNormParams(out_shift, eps)
    return _layer_node("layer_norm_s8", node, graph, params, {"gamma": _quantize(gamma, e_g, 16), "beta": beta})


def _recurrent(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    """gru_s8 or lstm_s8: int16 weights and an int32 accumulator (recurrent.quantize_layer), the Q15 state
    requantised to the int8 output's exponent (never finer than Q15: _min_output_exponent; |h| < 1 keeps it at 0 or
    finer)."""
    p = node.params
    quantize_layer, check = (quantize_gru, check_gru) if node.op == "gru" else (quantize_lstm, check_lstm)
    args = (p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], e[node.inputs[0]], 128, e[node.output])
    try:
        params, weights = quantize_layer(*args, reverse=node.attrs["reverse"], last_only=node.attrs["last_only"])
        check(params, weights, 128)
    except KernelRangeError as error:
        raise CompileError(f"{node.describe()}: {error}") from error
    arrays = {field.name: getattr(weights, field.name) for field in dataclasses.fields(weights)}
    b, _, steps, _ = graph.tensors[node.inputs[0]].shape
    macs = b * steps * weights.w.shape[0] * (weights.input_size + weights.hidden_size)
    return _layer_node(f"{node.op}_s8", node, graph, params, arrays, macs, weights=weights)


def _layer_node(kernel: str, node: Node, graph: Graph, params=None, arrays=None, macs: int = 0, **attrs) -> QNode:
    """A QNode of the general layers' kernels; attrs output_shape tells the golden model the output's IR shape."""
    attrs["output_shape"] = graph.tensors[node.output].shape
    return QNode(kernel, node.name, list(node.inputs), node.output, params, arrays or {}, attrs, macs)


def _linear(node: Node, graph: Graph, e: dict[str, int], widths: dict[str, int], mean: np.ndarray | None) -> QNode:
    """fully_connected_s8, or fully_connected_a16 when the input or the output is int16."""
    weight = node.params["weight"]
    e_in, e_out = e[node.inputs[0]], e[node.output]
    e_w = weight_exponents(node, e_in, 8, e_out)
    bias = corrected_bias(node, graph, e_w, 8, e_in, mean)
    arrays = {
        "filter": _quantize(weight, e_w[:, None], 8),
        "bias": _quantize(bias, e_in + e_w, 32),
        "out_shift": (e_out - e_in - e_w).astype(np.int8),
    }
    rows = int(np.prod(graph.tensors[node.output].shape[:-1]))
    recorded = {"weight_exponents": [int(v) for v in e_w], "bias_corrected": mean is not None}
    macs = rows * weight.size
    in_bits, out_bits = widths.get(node.inputs[0], 8), widths.get(node.output, 8)
    if (in_bits, out_bits) == (8, 8):
        params = FullyConnectedParams(*_activation(node, e_out))
        return _layer_node("fully_connected_s8", node, graph, params, arrays, macs, **recorded)
    params = FullyConnectedA16Params(*_activation(node, e_out, out_bits), in_bits, out_bits)
    return _layer_node("fully_connected_a16", node, graph, params, arrays, macs, **recorded)


# The layers with a kernel for int16 activations on either side (the bit-width search may widen only tensors that
# these produce and read): Linear (fully_connected_a16), the plain convolution with int8 weights (conv2d_a16; with
# int16 ones, conv2d_a16_w16), the depthwise one (depthwise_conv2d_a16) and the residual add (add_a16).
WIDE_OPS = ("linear", "conv2d (groups 1 or depthwise, no dilation, int8 weights)", "add")
# Layers that write either width but read int8 only: RNNPool (rnnpool_layer_s8's out_bits; its input is int8).
WIDE_OUTPUT_OPS = ("rnnpool",)
# Data moves whose C copies whole elements of either width (emit_c): every one of them.
WIDE_DATA_MOVES = DATA_MOVES


def has_wide_kernel(node: Node, graph: Graph) -> bool:
    """Whether node's layer has an int16-activation kernel (WIDE_OPS). Not a stem with int16 weights: conv2d_a16's
    int8 weights would cost it more than a wide activation buys (see weight_bits), and the search's simulation
    keeps the int16 weights, so it would not see that loss."""
    if node.op == "conv2d":
        groups, channels = node.attrs["groups"], graph.tensors[node.inputs[0]].shape[3]
        depthwise = groups == channels == graph.tensors[node.output].shape[3]
        plain = (groups == 1 or depthwise) and node.attrs.get("dilation", (1, 1)) == (1, 1)
        return plain and weight_bits(node, graph) == 8
    return node.op in ("linear", "add")


def can_widen(graph: Graph, tensor: str) -> bool:
    """Whether tensor can be int16: produced (unless it is a model input) by WIDE_OPS, WIDE_OUTPUT_OPS or
    WIDE_DATA_MOVES, read by WIDE_OPS or WIDE_DATA_MOVES, and read by something unless it is a model output (a
    detector's scores: the link sends any width). A layer's weights (weight_name): can_widen_weights."""
    layer = weight_layer(graph, tensor)
    if layer is not None:
        return can_widen_weights(layer, graph)
    producer = graph.producer(tensor)
    readers = graph.consumers(tensor)
    if (producer is None) != (tensor in graph.inputs):
        return False
    wide = lambda node: node.op in WIDE_DATA_MOVES or has_wide_kernel(node, graph)  # noqa: E731
    wide_producer = producer is None or producer.op in WIDE_OUTPUT_OPS or wide(producer)
    return wide_producer and (bool(readers) or tensor in graph.outputs) and all(wide(n) for n in readers)


def _check_data_move_widths(graph: Graph, widths: dict[str, int]) -> None:
    """A data move's inputs and output share one grid (choose_exponents), so they must share one width."""
    for node in graph.nodes:
        if node.op in DATA_MOVES:
            bits = {t: widths.get(t, 8) for t in [*node.inputs, node.output]}
            if len(set(bits.values())) > 1:
                raise CompileError(
                    f"{node.describe()}: moves data between tensors of widths {bits}; a data move's input and "
                    "output share one grid, so widen all of them or none"
                )


def _pool_geometry(node: Node) -> tuple[int, ...]:
    (kh, kw), (sh, sw), (ph, pw) = node.attrs["kernel"], node.attrs["stride"], node.attrs["padding"]
    return kh, kw, sh, sw, ph, pw


def _maxpool(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    return _layer_node("maxpool_s8", node, graph, PoolParams(*_pool_geometry(node)), output_hw=node.attrs["output_hw"])


def _resize_bilinear(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    params = ResizeBilinearParams(int(node.attrs["align_corners"]))
    return _layer_node("resize_bilinear_s8", node, graph, params, output_hw=node.attrs["output_hw"])


def _avgpool(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    """The window mean and the change of exponent as one multiplier of at most 2^16 and a right shift."""
    kh, kw, *rest = _pool_geometry(node)
    scale = 2.0 ** (e[node.inputs[0]] - e[node.output]) / (kh * kw)
    shift = 62
    while shift >= 0 and round(scale * 2.0**shift) > 65536:
        shift -= 1
    if shift < 0:
        raise CompileError(f"{node.describe()}: the output exponent is too coarse for avgpool_s8")
    params = AvgPoolParams(kh, kw, *rest, round(scale * 2.0**shift), shift)
    macs = int(np.prod(graph.tensors[node.output].shape)) * kh * kw
    return _layer_node("avgpool_s8", node, graph, params, macs=macs, output_hw=node.attrs["output_hw"])


def _table_activation(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    table = activations.table(node.attrs["function"], node.attrs, e[node.inputs[0]], e[node.output])
    return _layer_node("lut_s8", node, graph, arrays={"table": table}, function=node.attrs["function"])


def _prelu(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    """prelu_s8: the slopes int16 at the finest exponent that holds them (at most 2^-23, the positive side's
    largest left shift), and the output's shift from the input times slope grid."""
    slope = node.params["slope"].astype(np.float64).ravel()
    e_slope = max(fit_exponent(float(np.abs(slope).max()), 16), -23)
    out_shift = e[node.output] - e[node.inputs[0]] - e_slope
    if e_slope > 0 or not 0 <= out_shift <= 31:
        raise CompileError(
            f"{node.describe()}: slopes up to {np.abs(slope).max():.3g} between input exponent {e[node.inputs[0]]} "
            f"and output exponent {e[node.output]} need a shift of {out_shift}; prelu_s8 takes slopes below 2^15 "
            "and shifts 0..31"
        )
    params = PReluParams(-e_slope, out_shift)
    return _layer_node(
        "prelu_s8", node, graph, params, {"slope": _quantize(slope, e_slope, 16)}, slope_exponent=e_slope
    )


def _multiply(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    """scale_channels_s8 (the other factor of the map's shape, or one value a channel) or scale_pixels_s8 (one value
    a pixel): each product of a map value and the other factor's value, from their grid to the output's."""
    shape, other = graph.tensors[node.inputs[0]].shape, graph.tensors[node.inputs[1]].shape
    kernel = "scale_pixels_s8" if other != shape and other[-1] == 1 else "scale_channels_s8"
    out_shift = e[node.output] - e[node.inputs[0]] - e[node.inputs[1]]
    if not 0 <= out_shift <= 31:
        raise CompileError(
            f"{node.describe()}: map exponent {e[node.inputs[0]]} times gate exponent {e[node.inputs[1]]} to output "
            f"exponent {e[node.output]} needs a shift of {out_shift}; {kernel} takes 0..31"
        )
    return _layer_node(kernel, node, graph, ScaleChannelsParams(out_shift))


def _softmax(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    exp_table, _, _ = log_softmax_tables(e[node.inputs[0]])
    params = SoftmaxParams(-e[node.output], 0, 127)
    if not 0 <= params.out_frac_bits <= -SOFTMAX_MIN_EXPONENT:
        raise CompileError(f"{node.describe()}: softmax output exponent {e[node.output]} outside -14..0")
    return _layer_node("softmax_s8", node, graph, params, {"exp_table": exp_table})


def _log_softmax(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    """log_softmax_s8: the output on a grid 0..15 bits coarser than the input's (never finer: choose_exponents)."""
    out_shift = e[node.output] - e[node.inputs[0]]
    if not 0 <= out_shift <= 15:
        raise CompileError(
            f"{node.describe()}: log_softmax from input exponent {e[node.inputs[0]]} to output exponent "
            f"{e[node.output]} needs a shift of {out_shift}; log_softmax_s8 takes 0..15"
        )
    exp_table, log_table, ln2_steps = log_softmax_tables(e[node.inputs[0]])
    arrays = {"exp_table": exp_table, "log_table": log_table}
    return _layer_node("log_softmax_s8", node, graph, LogSoftmaxParams(ln2_steps, out_shift), arrays)


def _flatten_chw(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    return _layer_node("flatten_chw", node, graph, input_shape=graph.tensors[node.inputs[0]].shape)


def _zero_pad(node: Node, graph: Graph, e: dict[str, int]) -> QNode:
    return _layer_node("zero_pad", node, graph, **node.attrs)


LAYER_QUANTIZERS = {
    "zero_pad": _zero_pad,
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "resize_bilinear": _resize_bilinear,
    "activation": _table_activation,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "prelu": _prelu,
    "layer_norm": _layer_norm,
    "gru": _recurrent,
    "lstm": _recurrent,
    "multiply": _multiply,
    "flatten_chw": _flatten_chw,
}


def quantize(
    graph: Graph,
    ranges: dict[str, float],
    widths: dict[str, int] | None = None,
    means: dict[str, np.ndarray] | None = None,
) -> QGraph:
    """The quantised graph of an optimised IR, given max |x| per tensor from calibrate.profile; widths names the
    tensors (and layers' weights: weight_name) that are int16 (16), each one can_widen allows; means
    (calibrate.channel_means), the per-channel means that convolution and linear biases are corrected with
    (corrected_bias)."""
    means = means or {}
    widths = widths or {}
    refused = [t for t, bits in widths.items() if bits != 8 and not (bits == 16 and can_widen(graph, t))]
    if refused:
        raise CompileError(
            f"no int16 kernels for tensors {refused}: only {', '.join(WIDE_OPS)} and the data moves "
            f"{', '.join(WIDE_DATA_MOVES)} take int16 activations ({', '.join(WIDE_OUTPUT_OPS)} writes them), and "
            f"only a 1x1 convolution's weights (<layer>{WEIGHT_SUFFIX}) may be int16"
        )
    _check_data_move_widths(graph, widths)
    e = choose_exponents(graph, ranges, widths)
    nodes = []
    for node in graph.nodes:
        if node.op == "conv2d":
            nodes.append(_conv(node, graph, e, widths, means.get(node.inputs[0])))
        elif node.op == "rnnpool":
            nodes.append(_rnnpool(node, graph, e, widths))
        elif node.op == "add":
            nodes.append(_add(node, e, widths))
        elif node.op == "l2norm":
            nodes.append(_l2norm(node, e))
        elif node.op == "linear":
            nodes.append(_linear(node, graph, e, widths, means.get(node.inputs[0])))
        elif node.op in LAYER_QUANTIZERS:
            nodes.append(LAYER_QUANTIZERS[node.op](node, graph, e))
        elif node.op in DATA_MOVES:
            nodes.append(QNode(node.op, node.name, list(node.inputs), node.output, attrs=dict(node.attrs)))
        else:
            raise CompileError(f"{node.describe()}: no quantised form for '{node.op}' (run passes.optimize first)")
    tensors = {
        name: QTensor(name, t.shape, e[name], "int16" if widths.get(name, 8) == 16 else "int8", t.offset)
        for name, t in graph.tensors.items()
    }
    return QGraph(tensors, list(graph.inputs), nodes, list(graph.outputs))
