"""Runs an IR graph in float numpy (NHWC), the reference the quantised model is measured against and the
profiler calibration reads tensor ranges from."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hil.compiler import activations
from hil.compiler.ir import PAD_MODES, RESAMPLES, Graph, Node, concat_rows, padded, slice_pixels, transpose_rows
from hil.errors import CompileError
from hil.kernels_ref.layers import bilinear_axis


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    stride,
    padding,
    groups: int,
    padding_end=None,
    dilation=(1, 1),
    pad_value: float = 0.0,
) -> np.ndarray:
    """NHWC input, OIHW weight (PyTorch), padding with pad_value (default zeros; padding above/left, padding_end
    below/right: default the same); any groups and dilation."""
    n, h, w, _ = x.shape
    cout, cin_g, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    (pb, pr) = padding if padding_end is None else padding_end
    if kh == kw == sh == sw == groups == 1 and not (ph or pb or pw or pr):
        # A 1x1 convolution is one matrix product: the same sums as below without the zeroed map they are added
        # into, twice as fast on the bit-width search's wide early maps.
        out = (x.reshape(-1, cin_g) @ weight[:, :, 0, 0].T).reshape(n, h, w, cout)
        return out + bias if bias is not None else out
    oh, ow = (h + ph + pb - dh * (kh - 1) - 1) // sh + 1, (w + pw + pr - dw * (kw - 1) - 1) // sw + 1
    # np.pad copies even when it adds nothing, and the bit-width search runs every convolution thousands of times
    padded = np.pad(x, ((0, 0), (ph, pb), (pw, pr), (0, 0)), constant_values=pad_value) if ph or pb or pw or pr else x
    wg = weight.reshape(groups, cout // groups, cin_g, kh, kw)
    out = np.zeros((n, oh, ow, groups, cout // groups), dtype=np.float64)
    for ky in range(kh):
        for kx in range(kw):
            y, x0 = ky * dh, kx * dw
            patch = padded[:, y : y + sh * (oh - 1) + 1 : sh, x0 : x0 + sw * (ow - 1) + 1 : sw, :]
            patch = patch.reshape(n, oh, ow, groups, cin_g)
            tap = wg[:, :, :, ky, kx]
            # einsum's batched product over the groups is slow for depthwise (one input channel per group) and
            # plain (one group) convolutions: a broadcast product and a matrix product compute them directly.
            if cin_g == 1:
                out += patch * tap[:, :, 0]
            elif groups == 1:
                out[..., 0, :] += (patch.reshape(-1, cin_g) @ tap[0].T).reshape(n, oh, ow, -1)
            else:
                out += np.einsum("bhwgc,goc->bhwgo", patch, tap, optimize=True)
    out = out.reshape(n, oh, ow, cout)
    return out + bias if bias is not None else out


def fastgrnn(params: dict[str, np.ndarray], prefix: str, sequence: np.ndarray) -> np.ndarray:
    """Final state of a FastGRNN cell run from zero over sequence [batch, steps, input] (EdgeML layout x @ W)."""
    w, u = params[f"{prefix}.W"], params[f"{prefix}.U"]
    bg, bh = params[f"{prefix}.bias_gate"].ravel(), params[f"{prefix}.bias_update"].ravel()
    zeta = 1.0 / (1.0 + np.exp(-float(params[f"{prefix}.zeta"].ravel()[0])))
    nu = 1.0 / (1.0 + np.exp(-float(params[f"{prefix}.nu"].ravel()[0])))
    h = np.zeros((sequence.shape[0], u.shape[0]))
    for t in range(sequence.shape[1]):
        pre = sequence[:, t, :] @ w + h @ u
        z = 1.0 / (1.0 + np.exp(-(pre + bg)))
        h = z * h + (zeta * (1.0 - z) + nu) * np.tanh(pre + bh)
    return h


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def recurrent(node: Node, x: np.ndarray) -> np.ndarray:
    """torch.nn.GRU's or torch.nn.LSTM's equations (node.op) over frames [B, 1, T, K] from zero states: every step's
    state [B, 1, T, H], each at its own frame (attrs reverse: run from the last frame), or the final state alone
    (attrs last_only)."""
    p = node.params
    w, u, b_ih, b_hh = p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]
    frames, hidden = x[:, 0], u.shape[1]
    h, c = np.zeros((x.shape[0], hidden)), np.zeros((x.shape[0], hidden))
    states = np.zeros((*frames.shape[:2], hidden))
    steps = range(frames.shape[1] - 1, -1, -1) if node.attrs["reverse"] else range(frames.shape[1])
    for t in steps:
        gx, gh = frames[:, t] @ w.T + b_ih, h @ u.T + b_hh
        if node.op == "gru":
            r, z = (
                _sigmoid(gx[:, :hidden] + gh[:, :hidden]),
                _sigmoid(gx[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden]),
            )
            n = np.tanh(gx[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
            h = (1.0 - z) * n + z * h
        else:
            i, f, g, o = np.split(gx + gh, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        states[:, t] = h
    return (h[:, None] if node.attrs["last_only"] else states)[:, None]


def rnnpool_patches(node: Node, patches: np.ndarray) -> np.ndarray:
    """patches [P, r, c, k] -> [P, 4*h2]: rows forward, rows backward, columns forward, columns backward."""
    p, r, c, k = patches.shape
    rows = fastgrnn(node.params, "rnn1", patches.reshape(p * r, c, k)).reshape(p, r, -1)
    cols = fastgrnn(node.params, "rnn1", patches.transpose(0, 2, 1, 3).reshape(p * c, r, k)).reshape(p, c, -1)
    runs = [rows, rows[:, ::-1], cols, cols[:, ::-1]]
    return np.concatenate([fastgrnn(node.params, "rnn2", s) for s in runs], axis=1)


def map_patches(x: np.ndarray, rows: int, cols: int, stride: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The r x c patches of an NHWC map at a stride (nn.Unfold order): ([n*oh*ow, r, c, k], (oh, ow))."""
    _, h, w, k = x.shape
    oh, ow = (h - rows) // stride + 1, (w - cols) // stride + 1
    windows = np.lib.stride_tricks.sliding_window_view(x, (rows, cols), axis=(1, 2))[:, ::stride, ::stride][:, :oh, :ow]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, rows, cols, k), (oh, ow)


def _activate(node: Node, out: np.ndarray) -> np.ndarray:
    activation = node.attrs.get("activation")
    if activation == "relu":
        out = np.maximum(out, 0)
    elif activation == "relu6":
        out = np.clip(out, 0, 6)
    return out


def _conv(node: Node, x: np.ndarray) -> np.ndarray:
    a = node.attrs
    args = (
        a["stride"],
        a["padding"],
        a["groups"],
        a.get("padding_end"),
        a.get("dilation", (1, 1)),
        a.get("pad_value", 0.0),
    )
    return _activate(node, conv2d(x, node.params["weight"], node.params.get("bias"), *args))


def _linear(node: Node, x: np.ndarray) -> np.ndarray:
    out = x @ node.params["weight"].astype(np.float64).T
    return _activate(node, out + node.params["bias"] if "bias" in node.params else out)


def _pool_windows(node: Node, x: np.ndarray, fill: float):
    """Every window tap's values for every output pixel (fill outside the input)."""
    (kh, kw), (sh, sw), (ph, pw) = node.attrs["kernel"], node.attrs["stride"], node.attrs["padding"]
    oh, ow = node.attrs["output_hw"]
    bottom, right = max(0, (oh - 1) * sh + kh - ph - x.shape[1]), max(0, (ow - 1) * sw + kw - pw - x.shape[2])
    padded = np.pad(x, ((0, 0), (ph, bottom), (pw, right), (0, 0)), constant_values=fill)
    return [
        padded[:, y : y + sh * (oh - 1) + 1 : sh, z : z + sw * (ow - 1) + 1 : sw] for y in range(kh) for z in range(kw)
    ]


def _maxpool(node: Node, x: np.ndarray) -> np.ndarray:
    return np.max(_pool_windows(node, x, -np.inf), axis=0)


def _avgpool(node: Node, x: np.ndarray) -> np.ndarray:
    return np.mean(_pool_windows(node, x, 0.0), axis=0)


def _softmax(node: Node, x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(node: Node, x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _zero_pad(node: Node, x: np.ndarray) -> np.ndarray:
    a = node.attrs
    return np.pad(x, ((0, 0), (a["top"], a["bottom"]), (a["left"], a["right"]), (0, 0)))


def _batchnorm(node: Node, x: np.ndarray) -> np.ndarray:
    p = node.params
    return (x - p["mean"]) / np.sqrt(p["var"] + node.attrs["eps"]) * p["gamma"] + p["beta"]


def _rnnpool(node: Node, x: np.ndarray) -> np.ndarray:
    a = node.attrs
    patches, (oh, ow) = map_patches(x, a["rows"], a["cols"], a["stride"])
    out = rnnpool_patches(node, patches).reshape(x.shape[0], oh, ow, -1)
    return out - node.params["offset"] if "offset" in node.params else out  # centred (centre.py)


def _bilinear_taps(align_corners: bool, size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along one axis, each output's two input indices and the second one's weight, at the sample points
    resize_bilinear_s8 takes (PyTorch's)."""
    first, second, frac, den = bilinear_axis(int(align_corners), size_in, size_out)
    return first, second, frac / den


def _resize_bilinear(node: Node, x: np.ndarray) -> np.ndarray:
    (out_h, out_w), corners = node.attrs["output_hw"], node.attrs["align_corners"]
    top, bottom, fy = _bilinear_taps(corners, x.shape[1], out_h)
    left, right, fx = _bilinear_taps(corners, x.shape[2], out_w)
    rows = x[:, top] * (1 - fy)[None, :, None, None] + x[:, bottom] * fy[None, :, None, None]
    return rows[:, :, left] * (1 - fx)[None, None, :, None] + rows[:, :, right] * fx[None, None, :, None]


def _l2norm(node: Node, x: np.ndarray) -> np.ndarray:
    norm = np.sqrt((x * x).sum(axis=-1, keepdims=True)) + node.attrs["eps"]
    return node.params["weight"] * (x / norm)


def _layer_norm(node: Node, x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    std = np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + node.attrs["eps"])
    return centred / std * node.params["weight"] + node.params["bias"]


_UNARY: dict[str, Callable[[Node, np.ndarray], np.ndarray]] = {
    "conv2d": _conv,
    "batchnorm": _batchnorm,
    "relu": lambda n, x: np.maximum(x, 0),
    "relu6": lambda n, x: np.clip(x, 0, 6),
    "rnnpool": _rnnpool,
    "gru": recurrent,
    "lstm": recurrent,
    **{op: lambda n, x: padded(n.op, n.attrs, x) for op in PAD_MODES},
    "l2norm": _l2norm,
    "layer_norm": _layer_norm,
    "resize_bilinear": _resize_bilinear,
    "slice_channels": lambda n, x: x[..., n.attrs["start"] : n.attrs["stop"]],
    "slice_pixels": lambda n, x: slice_pixels(x, n.attrs),
    "permute_channels": lambda n, x: x[..., list(n.attrs["order"])],
    "unflatten": lambda n, x: x.reshape(x.shape[0], 1, 1, -1),
    "channel_max": lambda n, x: x.max(axis=-1, keepdims=True),
    **{op: lambda n, x: RESAMPLES[n.op](x, n.attrs["factor"]) for op in RESAMPLES},
    "flatten": lambda n, x: x.reshape(x.shape[0], -1, x.shape[-1]),
    "linear": _linear,
    "zero_pad": _zero_pad,
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "activation": lambda n, x: activations.apply(n.attrs["function"], x, n.attrs),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "prelu": lambda n, x: np.where(x >= 0, x, x * n.params["slope"]),
    "flatten_chw": lambda n, x: transpose_rows(x, (x.shape[0], -1)),
    "transpose_rows": lambda n, x: transpose_rows(x, (x.shape[0], *n.attrs["output_shape"][1:])),
}


def run_node(node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """One node on float64 arrays."""
    if node.op in _UNARY:
        return _UNARY[node.op](node, inputs[0])
    if node.op == "add":
        return _activate(node, inputs[0] + inputs[1])
    if node.op == "multiply":
        return inputs[0] * inputs[1]
    if node.op == "concat_channels":
        return np.concatenate(inputs, axis=-1)
    if node.op == "concat_rows":
        return concat_rows(inputs, node.attrs.get("columns"))
    raise CompileError(f"{node.describe()}: the float executor has no '{node.op}'")


def input_values(graph: Graph, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The graph's input tensors (float64) for the given NHWC inputs: each less its offset (centre.centre_input)."""
    return {
        name: np.asarray(x, dtype=np.float64) - graph.tensors[name].offset
        for name, x in zip(graph.inputs, inputs, strict=True)
    }


def execute(graph: Graph, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor of the graph (NHWC float64) for the given NHWC inputs (less each input's offset)."""
    values = input_values(graph, inputs)
    for node in graph.nodes:
        values[node.output] = run_node(node, [values[t] for t in node.inputs]).reshape(
            -1, *graph.tensors[node.output].shape[1:]
        )
    return values


def outputs(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The graph outputs only."""
    values = execute(graph, inputs)
    return [values[t] for t in graph.outputs]
