"""The quantised IR: int8 (or int16, bit_widths.py) tensors at power-of-two exponents (real = q * 2^exponent) and
nodes that name the integer kernel they run, with its parameter record and integer arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hil.compiler.ir import RESAMPLES

# Ops that only move int8 values: every tensor they touch shares one exponent.
DATA_MOVES = (
    "pad",
    "reflect_pad",
    "slice_channels",
    "slice_pixels",
    "permute_channels",
    "unflatten",
    "flatten",
    "transpose_rows",
    "channel_max",
    "concat_channels",
    "concat_rows",
    *RESAMPLES,
)

# The depthwise convolutions, int8 and int16 activations: filter [1, kh, kw, C].
DEPTHWISE_KERNELS = ("depthwise_conv2d_s8", "depthwise_conv2d_a16")


def is_pointwise(
    kernel_hw: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int], in_shape: tuple, out_shape: tuple
) -> bool:
    """A 1x1 convolution of stride 1 and no padding whose output has its input's size (NHWC shapes): the shape
    pointwise_conv2d_s8 runs and an MBConv's expansion has, at either width."""
    return (*kernel_hw, *stride, *padding) == (1, 1, 1, 1, 0, 0) and tuple(in_shape[:3]) == tuple(out_shape[:3])


@dataclass
class QTensor:
    name: str
    shape: tuple[int, ...]
    exponent: int
    dtype: str = "int8"
    offset: float = 0.0  # a model input's offset (ir.Tensor.offset): the integers stand for x - offset

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    @property
    def scale(self) -> float:
        return 2.0**self.exponent

    @property
    def zero_point(self) -> int:
        """The integer that stands for 0 (x = (q - zero_point) * scale): minus the offset, on the grid."""
        return -round(self.offset / self.scale)


@dataclass
class QNode:
    """kernel: conv2d_s8, conv2d_s8_w16 (int16 weights), depthwise_conv2d_s8, pointwise_conv2d_s8, add_s8, add_a16
    (int16 on either side), l2norm_s8, scale_channels_s8 or scale_pixels_s8 (multiply: the map, then the other
    factor), rnnpool_s8, rnnpool_offset_s8 (RNNPool with per-channel offsets removed, centre.py), one of
    golden.LAYER_KERNELS, or a data move."""

    kernel: str
    name: str
    inputs: list[str]
    output: str
    params: object = None  # the hil.kernels_ref.params record of the kernel
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    macs: int = 0

    @property
    def flash_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


def on_grid(value: np.ndarray, exponent: int | np.ndarray, bits: int) -> np.ndarray:
    """value rounded to the fixed-point grid of 2^exponent and saturated to bits: the real values a tensor of that
    exponent and width can hold."""
    top, scale = 2 ** (bits - 1), 2.0**exponent
    # A new array (0-d for a scalar) that the steps below work in: the searches call this on every tensor of every
    # candidate, and temporaries were most of its time.
    steps = np.asarray(np.asarray(value, np.float64) / scale)
    np.round(steps, out=steps)
    np.clip(steps, -top, top - 1, out=steps)
    steps *= scale
    return steps


@dataclass
class QGraph:
    tensors: dict[str, QTensor]
    inputs: list[str]
    nodes: list[QNode]
    outputs: list[str]

    def input_steps(self, x: np.ndarray, index: int = 0) -> np.ndarray:
        """A float NHWC input in steps of the model's input grid, rounded but not yet saturated (float64)."""
        tensor = self.tensors[self.inputs[index]]
        return np.round((np.asarray(x, dtype=np.float64) - tensor.offset) / 2.0**tensor.exponent)

    def quantize_input(self, x: np.ndarray, index: int = 0) -> np.ndarray:
        """A float NHWC input as the model's input tensor (int8, or int16 where the bit-width search widened it)."""
        info = np.iinfo(self.tensors[self.inputs[index]].dtype)
        return np.clip(self.input_steps(x, index), info.min, info.max).astype(info.dtype)

    def dequantize(self, name: str, q: np.ndarray) -> np.ndarray:
        return np.asarray(q, dtype=np.float64) * 2.0 ** self.tensors[name].exponent + self.tensors[name].offset

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def flash_bytes(self) -> int:
        return sum(n.flash_bytes for n in self.nodes)
