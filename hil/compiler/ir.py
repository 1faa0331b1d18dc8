"""The compiler's graph IR: tensors in NHWC, nodes in execution order, parameters as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hil.errors import CompileError

# op -> what it does, for messages and the per-layer summary.
OPS = {
    "conv2d": "convolution (groups == channels: depthwise); attrs stride, padding, groups, activation",
    "batchnorm": "a per-channel scale and shift: batch normalisation, or arithmetic with a constant (x + 3, x / 6)",
    "relu": "max(x, 0) (fused into the convolution before it)",
    "relu6": "min(max(x, 0), 6) (fused into the convolution before it)",
    "add": "elementwise sum of two tensors of one shape (residual)",
    "multiply": "element-wise product of a map (or rows) and a tensor of its shape, of a map and a [1, C] gate of its "
    "channels broadcast over its pixels, or of a map and a [H, W, 1] gate of its pixels broadcast over its channels "
    "(inputs: the map, then the other): a GLU, a squeeze-and-excitation gate, spatial attention",
    "pad": "edge padding (mode replicate) of rows and columns",
    "reflect_pad": "reflection padding (mode reflect) of rows and columns: the pixels mirrored about the edge ones",
    "rnnpool": "RNNPool over patches of the map (two FastGRNN cells)",
    "gru": "a GRU layer (torch.nn.GRU's equations, zero initial state) over frames [B, 1, T, K]: every step's state "
    "[B, 1, T, H] at its own frame, or the final one (attrs last_only); attrs reverse runs from the last frame",
    "lstm": "an LSTM layer (torch.nn.LSTM's equations, zero initial states) over frames, as gru",
    "l2norm": "per-pixel L2 normalisation across channels times a per-channel weight",
    "layer_norm": "LayerNorm across the channels of each pixel (a token's, a frame's features): minus their mean, over "
    "their standard deviation, times params weight plus params bias per channel",
    "slice_channels": "channels start..stop of a map",
    "slice_pixels": "rows and columns of a map from attrs start by attrs step, attrs output_hw of them: a crop, or a "
    "subsample (YOLOv5's Focus takes x[..., ::2, ::2] and three more)",
    "unflatten": "rows [B, N] as a 1x1 map of N channels (a Linear's output viewed as [B, N, 1, 1]; the same bytes)",
    "permute_channels": "a map's channels in another order: output channel c is input channel attrs order[c] (a "
    "channel shuffle)",
    "channel_max": "the maximum across channels, one channel out",
    "upsample_nearest": "nearest upsampling: every pixel copied into a block of attrs factor (rows, columns)",
    "insert_zeros": "factor - 1 zeros between pixels (attrs factor): a transposed convolution's input",
    "resize_bilinear": "bilinear resizing to attrs output_hw, as F.interpolate computes it (attrs align_corners)",
    "depth_to_space": "every pixel's channels as a block of attrs factor pixels (PyTorch's pixel_shuffle order)",
    "space_to_depth": "every block of attrs factor pixels as one pixel's channels (PyTorch's pixel_unshuffle order)",
    "concat_channels": "maps joined along channels",
    "flatten": "an NHWC map as [B, N, C] rows (the same bytes): concat_rows reads the map itself; a model output of "
    "tokens or frames is a copy",
    "concat_rows": "NHWC maps' values joined one map after another, as [B, N, C] rows (C: attrs columns, else the "
    "maps' channels)",
    "linear": "fully connected layer on [B, N] rows; attrs activation",
    "zero_pad": "zero padding of rows and columns (folded into the convolution after it)",
    "maxpool": "max pooling; attrs kernel, stride, padding (padded taps never win)",
    "avgpool": "average pooling (global average too); attrs kernel, stride, padding (padded taps count as 0)",
    "activation": "an element-wise function (attrs function and its arguments), run as a 256-entry table",
    "softmax": "softmax over the channels",
    "log_softmax": "log of the softmax over the channels (the last axis), as F.log_softmax",
    "prelu": "PReLU with a slope per channel (params slope, the last axis's channels)",
    "flatten_chw": "an NHWC map as [B, C*H*W] rows in PyTorch's channel-major order",
    "transpose_rows": "a map's [B, P, C] values (P pixels of C channels) transposed to [B, C, P], laid out as attrs "
    "output_shape: a sequence read as an image of one channel (x.unsqueeze(1)), frames read as a sequence",
}


def graph_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The IR shape of a map or sequence of PyTorch's shape: an NCHW map [B, C, H, W] is NHWC, an NCL sequence
    [B, C, L] (what Conv1d reads) the map [B, 1, L, C]; rows [B, N] stay as they are."""
    if len(shape) == 4:
        b, c, h, w = shape
        return (b, h, w, c)
    if len(shape) == 3:
        b, c, length = shape
        return (b, 1, length, c)
    return tuple(shape)


def to_graph_layout(x: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A tensor in PyTorch's layout as the compiled graph holds it (graph_shape): a model input always; an output
    given its IR shape, since a 3-d output may be a sequence [B, C, L] (IR [B, 1, L, C]) or rows [B, N, C] that
    concat_rows made (IR as they are)."""
    x = np.asarray(x)
    if x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    if x.ndim == 3 and (shape is None or len(shape) == 4):
        return np.ascontiguousarray(x.transpose(0, 2, 1)[:, None])
    return x


def concat_rows(maps: list[np.ndarray], columns: int | None) -> np.ndarray:
    """concat_rows on NHWC maps (float or integer): their values one map after another, as rows of columns values
    (None: the maps' channels), as the golden model and the C (which copies bytes) do it."""
    joined = np.concatenate([m.reshape(m.shape[0], -1) for m in maps], axis=1)
    return joined.reshape(joined.shape[0], -1, columns or maps[0].shape[-1])


def insert_zeros(x: np.ndarray, factor: tuple[int, int]) -> np.ndarray:
    """insert_zeros on an NHWC map (float or integer), as the golden model and the C do it."""
    b, h, w, c = x.shape
    out = np.zeros((b, (h - 1) * factor[0] + 1, (w - 1) * factor[1] + 1, c), dtype=x.dtype)
    out[:, :: factor[0], :: factor[1]] = x
    return out


def upsample_nearest(x: np.ndarray, factor: tuple[int, int]) -> np.ndarray:
    """upsample_nearest on an NHWC map (float or integer: it moves values), as the golden model and the C do it."""
    return np.repeat(np.repeat(x, factor[0], axis=1), factor[1], axis=2)


def depth_to_space(x: np.ndarray, factor: tuple[int, int]) -> np.ndarray:
    """depth_to_space on an NHWC map: channel c * fh * fw + i * fw + j of pixel (y, x) becomes channel c of pixel
    (y * fh + i, x * fw + j), as torch.pixel_shuffle orders them (ONNX DepthToSpace mode CRD)."""
    b, h, w, c = x.shape
    fh, fw = factor
    blocks = x.reshape(b, h, w, c // (fh * fw), fh, fw)
    return blocks.transpose(0, 1, 4, 2, 5, 3).reshape(b, h * fh, w * fw, c // (fh * fw))


def space_to_depth(x: np.ndarray, factor: tuple[int, int]) -> np.ndarray:
    """space_to_depth on an NHWC map, depth_to_space's inverse: pixel (y * fh + i, x * fw + j)'s channel c becomes
    channel c * fh * fw + i * fw + j of pixel (y, x), as torch.pixel_unshuffle orders them."""
    b, h, w, c = x.shape
    fh, fw = factor
    blocks = x.reshape(b, h // fh, fh, w // fw, fw, c)
    return blocks.transpose(0, 1, 3, 5, 2, 4).reshape(b, h // fh, w // fw, c * fh * fw)


def slice_pixels(x: np.ndarray, attrs: dict) -> np.ndarray:
    """slice_pixels on an NHWC map (float or integer), as the golden model and the C do it."""
    (top, left), (step_h, step_w), (out_h, out_w) = attrs["start"], attrs["step"], attrs["output_hw"]
    rows, columns = slice(top, top + step_h * out_h, step_h), slice(left, left + step_w * out_w, step_w)
    return np.ascontiguousarray(x[:, rows, columns])


def transpose_rows(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """transpose_rows (float or integer) to the output's IR shape, as the golden model and the C do it."""
    return np.ascontiguousarray(x.reshape(x.shape[0], -1, x.shape[-1]).transpose(0, 2, 1)).reshape(shape)


# The data moves that rearrange a map's pixels by attrs factor (rows, columns); the C of each is
# gen_<op>(in, n, h, w, c, element bytes, factor_h, factor_w, out), at either width.
RESAMPLES = {
    "insert_zeros": insert_zeros,
    "upsample_nearest": upsample_nearest,
    "depth_to_space": depth_to_space,
    "space_to_depth": space_to_depth,
}


# The padding data moves -> numpy's mode for them.
PAD_MODES = {"pad": "edge", "reflect_pad": "reflect"}


def padded(op: str, a: dict, x: np.ndarray) -> np.ndarray:
    """A pad or reflect_pad node's output, from its op and attrs (the float executor's, or the golden model's
    integers)."""
    return np.pad(x, ((0, 0), (a["top"], a["bottom"]), (a["left"], a["right"]), (0, 0)), mode=PAD_MODES[op])


def affine_params(scale: np.ndarray, offset: np.ndarray) -> dict[str, np.ndarray]:
    """A batchnorm node's params (with attrs eps 0) for scale * x + offset, one of each per channel."""
    return {"mean": np.zeros(len(scale)), "var": np.ones(len(scale)), "gamma": scale, "beta": offset}


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]  # NHWC for maps, [B, N, C] after flatten, [B, N] for rows (Linear)
    # A graph input's offset (centre.centre_input): the graph computes on x - offset, the host sends it quantised.
    offset: float = 0.0


@dataclass
class Node:
    op: str
    name: str  # the module path or the operation it came from, for messages
    inputs: list[str]
    output: str
    attrs: dict = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.name} ({self.op})"

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """A batchnorm node's map x -> scale * x + shift, per channel."""
        p = self.params
        scale = p["gamma"] / np.sqrt(p["var"] + self.attrs["eps"])
        return scale, p["beta"] - p["mean"] * scale

    def affine_step(self) -> tuple[str, dict] | None:
        """A batchnorm node's map as one element-wise step (activations' "affine"), when it is the same for every
        channel, as constant arithmetic (x + 3, x / 6) captures; else None."""
        scale, offset = self.scale_shift()
        if np.any(scale != scale[0]) or np.any(offset != offset[0]):
            return None
        return "affine", {"scale": float(scale[0]), "offset": float(offset[0])}


@dataclass
class Graph:
    tensors: dict[str, Tensor]
    inputs: list[str]
    nodes: list[Node]
    outputs: list[str]

    def producer(self, tensor: str) -> Node | None:
        return next((n for n in self.nodes if n.output == tensor), None)

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def validate(self) -> None:
        """Every input defined before use, every op known, outputs produced."""
        defined = set(self.inputs)
        for node in self.nodes:
            if node.op not in OPS:
                raise CompileError(f"{node.describe()}: unknown IR op '{node.op}'")
            missing = [t for t in node.inputs if t not in defined]
            if missing:
                raise CompileError(f"{node.describe()}: uses {missing} before they are computed")
            defined.add(node.output)
        for output in self.outputs:
            if output not in defined:
                raise CompileError(f"graph output {output} is never computed")

    def summary(self) -> list[dict]:
        return [{"layer": n.name, "op": n.op, "shape": self.tensors[n.output].shape, **n.attrs} for n in self.nodes]
