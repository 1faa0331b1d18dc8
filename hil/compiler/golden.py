"""The golden integer model: a quantised graph executed with the kernels' bit-exact numpy twins. Generated C
must reproduce it bit for bit."""

from __future__ import annotations

import numpy as np

from hil.compiler.ir import PAD_MODES, RESAMPLES, concat_rows, padded, slice_pixels, transpose_rows
from hil.compiler.qgraph import QGraph, QNode
from hil.errors import CompileError
from hil.kernels_ref import (
    add_a16,
    add_s8,
    avgpool_s8,
    conv2d_s8,
    depthwise_conv2d_s8,
    fully_connected_s8,
    grouped_conv2d_s8,
    l2norm_s8,
    layer_norm_s8,
    log_softmax_s8,
    lut_s8,
    maxpool_s8,
    pointwise_conv2d_s8,
    prelu_s8,
    resize_bilinear_s8,
    rnnpool_layer_s8,
    scale_channels_s8,
    scale_pixels_s8,
    softmax_s8,
)
from hil.kernels_ref.conv_a16 import conv2d_a16, conv2d_a16_w16, depthwise_conv2d_a16
from hil.kernels_ref.conv_w16 import conv2d_s8_w16
from hil.kernels_ref.fc_a16 import fully_connected_a16
from hil.kernels_ref.gru import gru_s8
from hil.kernels_ref.lstm import lstm_s8
from hil.kernels_ref.rnnpool_offset import rnnpool_offset_layer_s8


def _nhwc(x: np.ndarray) -> np.ndarray:
    """A map the kernels see as 4-d (rows [B, N] as [B, 1, 1, N])."""
    return x if x.ndim == 4 else x.reshape(x.shape[0], 1, 1, -1)


LAYER_KERNELS = {
    "grouped_conv2d_s8": lambda n, x: grouped_conv2d_s8(
        n.params, n.arrays["out_shift"], x, n.arrays["filter"], n.arrays["bias"], n.attrs["output_hw"]
    ),
    "fully_connected_s8": lambda n, x: fully_connected_s8(
        n.params, n.arrays["out_shift"], x, n.arrays["filter"], n.arrays["bias"]
    ),
    "conv2d_a16": lambda n, x: conv2d_a16(
        n.params, n.arrays["out_shift"], x, n.arrays["filter"], n.arrays["bias"], n.attrs["output_hw"]
    ),
    "conv2d_a16_w16": lambda n, x: conv2d_a16_w16(
        n.params, n.arrays["out_shift"], x, n.arrays["filter"], n.arrays["bias"], n.attrs["output_hw"]
    ),
    "depthwise_conv2d_a16": lambda n, x: depthwise_conv2d_a16(
        n.params, n.arrays["out_shift"], x, n.arrays["filter"], n.arrays["bias"], n.attrs["output_hw"]
    ),
    "fully_connected_a16": lambda n, x: fully_connected_a16(
        n.params, n.arrays["out_shift"], x, n.arrays["filter"], n.arrays["bias"]
    ),
    "maxpool_s8": lambda n, x: maxpool_s8(n.params, _nhwc(x), n.attrs["output_hw"]),
    "avgpool_s8": lambda n, x: avgpool_s8(n.params, _nhwc(x), n.attrs["output_hw"]),
    "resize_bilinear_s8": lambda n, x: resize_bilinear_s8(n.params, _nhwc(x), n.attrs["output_hw"]),
    "lut_s8": lambda n, x: lut_s8(x, n.arrays["table"]),
    "prelu_s8": lambda n, x: prelu_s8(n.params, x, n.arrays["slope"]),
    "gru_s8": lambda n, x: gru_s8(n.params, n.attrs["weights"], x[:, 0]),
    "lstm_s8": lambda n, x: lstm_s8(n.params, n.attrs["weights"], x[:, 0]),
    "layer_norm_s8": lambda n, x: layer_norm_s8(n.params, x, n.arrays["gamma"], n.arrays["beta"]),
    "softmax_s8": lambda n, x: softmax_s8(n.params, x, n.arrays["exp_table"]),
    "log_softmax_s8": lambda n, x: log_softmax_s8(n.params, x, n.arrays["exp_table"], n.arrays["log_table"]),
    "flatten_chw": lambda n, x: transpose_rows(x, (x.shape[0], -1)),
    "zero_pad": lambda n, x: np.pad(
        x, ((0, 0), (n.attrs["top"], n.attrs["bottom"]), (n.attrs["left"], n.attrs["right"]), (0, 0))
    ),
}


def run_node(node: QNode, inputs: list[np.ndarray]) -> np.ndarray:
    """One quantised node on its integer arrays (int8, or int16 where the bit-width search widened a tensor)."""
    x = inputs[0]
    a, p = node.arrays, node.params
    if node.kernel in LAYER_KERNELS:
        out = LAYER_KERNELS[node.kernel](node, x)
        shape = node.attrs.get("output_shape")
        return out if shape is None else out.reshape(-1, *shape[1:])
    if node.kernel == "conv2d_s8":
        return conv2d_s8(p, a["out_shift"], x, a["filter"], a["bias"], node.attrs["output_hw"])
    if node.kernel == "conv2d_s8_w16":
        return conv2d_s8_w16(p, a["out_shift"], x, a["filter"], a["bias"], node.attrs["output_hw"])
    if node.kernel == "depthwise_conv2d_s8":
        return depthwise_conv2d_s8(p, a["out_shift"], x, a["filter"], a["bias"], node.attrs["output_hw"])
    if node.kernel == "pointwise_conv2d_s8":
        return pointwise_conv2d_s8(p, a["out_shift"], x, a["filter"], a["bias"])
    if node.kernel == "add_s8":
        return add_s8(p, x, inputs[1])
    if node.kernel == "scale_channels_s8":  # the other factor's values repeat over the map's leading pixels
        other = inputs[1].reshape(-1)
        return scale_channels_s8(p, x.reshape(-1, other.size), other).reshape(x.shape)
    if node.kernel == "scale_pixels_s8":
        return scale_pixels_s8(p, x, inputs[1].reshape((*x.shape[:-1], 1)))
    if node.kernel == "add_a16":
        return add_a16(p, x, inputs[1])
    if node.kernel == "l2norm_s8":
        return l2norm_s8(p, x, a["gamma"])
    if node.kernel == "rnnpool_s8":
        return rnnpool_layer_s8(p, x, node.attrs["stride"], node.attrs["rnn1"], node.attrs["rnn2"])
    if node.kernel == "rnnpool_offset_s8":
        return rnnpool_offset_layer_s8(p, x, node.attrs["stride"], node.attrs["rnn1"], node.attrs["rnn2"], a["offset"])
    if node.kernel in PAD_MODES:
        return padded(node.kernel, node.attrs, x)
    if node.kernel == "slice_pixels":
        return slice_pixels(x, node.attrs)
    if node.kernel == "slice_channels":
        return np.ascontiguousarray(x[..., node.attrs["start"] : node.attrs["stop"]])
    if node.kernel == "permute_channels":
        return np.ascontiguousarray(x[..., list(node.attrs["order"])])
    if node.kernel == "unflatten":
        return x.reshape(x.shape[0], 1, 1, -1)
    if node.kernel == "flatten":
        return x.reshape(x.shape[0], -1, x.shape[-1])
    if node.kernel == "transpose_rows":
        return transpose_rows(x, (x.shape[0], *node.attrs["output_shape"][1:]))
    if node.kernel == "channel_max":
        return x.max(axis=-1, keepdims=True)
    if node.kernel in RESAMPLES:
        return RESAMPLES[node.kernel](x, node.attrs["factor"])
    if node.kernel == "concat_channels":
        return np.concatenate(inputs, axis=-1)
    if node.kernel == "concat_rows":
        return concat_rows(inputs, node.attrs.get("columns"))
    raise CompileError(f"{node.name}: the golden model has no kernel '{node.kernel}'")


def execute(graph: QGraph, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every int8 tensor for int8 NHWC inputs."""
    values = dict(zip(graph.inputs, inputs, strict=True))
    for node in graph.nodes:
        values[node.output] = run_node(node, [values[t] for t in node.inputs])
    return values


def outputs(graph: QGraph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The int8 graph outputs."""
    values = execute(graph, inputs)
    return [values[t] for t in graph.outputs]


def snr_db(reference: np.ndarray, approximation: np.ndarray) -> float:
    """10 log10(signal power / error power) of an approximation of a float reference."""
    noise = float(np.sum((np.asarray(reference, np.float64) - approximation) ** 2))
    signal = float(np.sum(np.asarray(reference, np.float64) ** 2))
    return float("inf") if noise == 0 else 10.0 * np.log10(signal / noise)
