"""Bit-exact twins of the general models' kernels: grouped_conv2d_s8, fully_connected_s8, maxpool_s8, avgpool_s8,
lut_s8, prelu_s8, scale_channels_s8, resize_bilinear_s8 and softmax_s8 (hil_kernels.h documents each formula)."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.conv import _check, _requantize
from hil.kernels_ref.fixed import KernelRangeError, clamp, round_shift
from hil.kernels_ref.params import (
    AvgPoolParams,
    ConvParams,
    FullyConnectedParams,
    GroupedConvParams,
    PoolParams,
    PReluParams,
    ResizeBilinearParams,
    ScaleChannelsParams,
    SoftmaxParams,
)


def _taps(
    input: np.ndarray,
    k_h: int,
    k_w: int,
    stride: tuple[int, int],
    pad: tuple[int, int],
    dilation: tuple[int, int],
    output_hw: tuple[int, int],
    fill: int,
):
    """(ky, kx, the input values tap (ky, kx) reads for every output pixel, fill outside the input)."""
    (sh, sw), (ph, pw), (dh, dw), (oh, ow) = stride, pad, dilation, output_hw
    _, h, w, _ = input.shape
    bottom = max(0, (oh - 1) * sh + (k_h - 1) * dh + 1 - ph - h)
    right = max(0, (ow - 1) * sw + (k_w - 1) * dw + 1 - pw - w)
    padded = np.pad(input.astype(np.int64), ((0, 0), (ph, bottom), (pw, right), (0, 0)), constant_values=fill)
    for ky in range(k_h):
        for kx in range(k_w):
            y, x = ky * dh, kx * dw
            yield ky, kx, padded[:, y : y + sh * (oh - 1) + 1 : sh, x : x + sw * (ow - 1) + 1 : sw, :]


def grouped_conv2d_s8(
    params: GroupedConvParams,
    out_shift: np.ndarray,
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None,
    output_hw: tuple[int, int],
) -> np.ndarray:
    """grouped_conv2d_s8: NHWC int8 input, OHWI int8 filter with I = C_in / groups, dilation; output
    [n, *output_hw, O]."""
    input = _check(input, np.int8, 4, "input")
    filter = _check(filter, np.int8, 4, "filter")
    groups, cin = params.groups, input.shape[3]
    cout, k_h, k_w, cin_g = filter.shape
    if cin % groups or cout % groups or cin_g * groups != cin:
        raise KernelRangeError(f"filter {filter.shape} and {groups} groups do not fit input {input.shape}")
    acc = np.zeros((input.shape[0], *output_hw, groups, cout // groups), dtype=np.int64)
    f = filter.astype(np.int64).reshape(groups, cout // groups, k_h, k_w, cin_g)
    stride, pad = (params.stride_h, params.stride_w), (params.pad_h, params.pad_w)
    for ky, kx, patch in _taps(input, k_h, k_w, stride, pad, (params.dilation_h, params.dilation_w), output_hw, 0):
        grouped = patch.reshape(*patch.shape[:3], groups, cin_g)
        acc += np.einsum("bhwgc,goc->bhwgo", grouped, f[:, :, ky, kx, :])
    acc = acc.reshape(*acc.shape[:3], cout)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return _requantize(acc, ConvParams(act_min=params.act_min, act_max=params.act_max), out_shift)


def fully_connected_s8(
    params: FullyConnectedParams, out_shift: np.ndarray, input: np.ndarray, weight: np.ndarray, bias: np.ndarray | None
) -> np.ndarray:
    """fully_connected_s8: input [..., N] int8, weight [M, N] int8; output [..., M]."""
    input = np.asarray(input)
    weight = _check(weight, np.int8, 2, "weight")
    if input.dtype != np.int8 or input.shape[-1] != weight.shape[1]:
        raise KernelRangeError(f"weight {weight.shape} does not fit input {input.dtype} {input.shape}")
    acc = input.astype(np.int64) @ weight.astype(np.int64).T
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return _requantize(acc, ConvParams(act_min=params.act_min, act_max=params.act_max), out_shift)


def maxpool_s8(params: PoolParams, input: np.ndarray, output_hw: tuple[int, int]) -> np.ndarray:
    """maxpool_s8: padded taps never win."""
    input = _check(input, np.int8, 4, "input")
    stride, pad = (params.stride_h, params.stride_w), (params.pad_h, params.pad_w)
    out = np.full((input.shape[0], *output_hw, input.shape[3]), -(2**40), dtype=np.int64)
    for _, _, patch in _taps(input, params.kernel_h, params.kernel_w, stride, pad, (1, 1), output_hw, -(2**40)):
        out = np.maximum(out, patch)
    if out.min() == -(2**40):
        raise KernelRangeError("a max pooling window holds no input value")
    return clamp(out, params.act_min, params.act_max).astype(np.int8)


def avgpool_s8(params: AvgPoolParams, input: np.ndarray, output_hw: tuple[int, int]) -> np.ndarray:
    """avgpool_s8: round_shift(window sum * multiplier, shift), padded taps zero."""
    input = _check(input, np.int8, 4, "input")
    stride, pad = (params.stride_h, params.stride_w), (params.pad_h, params.pad_w)
    total = np.zeros((input.shape[0], *output_hw, input.shape[3]), dtype=np.int64)
    for _, _, patch in _taps(input, params.kernel_h, params.kernel_w, stride, pad, (1, 1), output_hw, 0):
        total += patch
    return clamp(round_shift(total * params.multiplier, params.shift), params.act_min, params.act_max).astype(np.int8)


def lut_s8(input: np.ndarray, table: np.ndarray) -> np.ndarray:
    """lut_s8: table[x + 128] for every value."""
    table = _check(table, np.int8, 1, "table")
    if table.shape != (256,) or np.asarray(input).dtype != np.int8:
        raise KernelRangeError(f"lut_s8 takes int8 values and a 256-entry int8 table, got {table.shape}")
    return table[np.asarray(input).astype(np.int64) + 128]


def prelu_s8(params: PReluParams, input: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """prelu_s8: round_shift(x << pos_shift where x >= 0, else x * slope[c], out_shift), channels the last axis."""
    slope = _check(slope, np.int16, 1, "slope")
    x = np.asarray(input)
    if x.dtype != np.int8 or x.shape[-1] != slope.size:
        raise KernelRangeError(f"prelu_s8 takes int8 values with {slope.size} channels last, got {x.dtype} {x.shape}")
    if not (0 <= params.pos_shift <= 23 and 0 <= params.out_shift <= 31):
        raise KernelRangeError(f"prelu_s8 shifts out of range: {params}")
    x = x.astype(np.int64)
    acc = np.where(x >= 0, x << params.pos_shift, x * slope.astype(np.int64))
    return clamp(round_shift(acc, params.out_shift), params.act_min, params.act_max).astype(np.int8)


def scale_channels_s8(params: ScaleChannelsParams, input: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """scale_channels_s8: round_shift(x * scale[c], out_shift), or x * scale[c] << -out_shift for out_shift < 0,
    clamped; channels the last axis (the squeeze-and-excitation gate)."""
    scale, x = np.asarray(scale), np.asarray(input)
    if scale.dtype != np.int8 or scale.ndim != 1 or scale.size < 1:
        raise KernelRangeError(f"scale_channels_s8 takes one int8 scale a channel, got {scale.dtype} {scale.shape}")
    if x.dtype != np.int8 or x.ndim < 1 or x.shape[-1] != scale.size:
        raise KernelRangeError(
            f"scale_channels_s8 takes int8 values with {scale.size} channels last, got {x.dtype} {x.shape}"
        )
    if not -14 <= params.out_shift <= 31:
        raise KernelRangeError(f"scale_channels_s8 out_shift out of range -14..31: {params}")
    acc = x.astype(np.int64) * scale.astype(np.int64)
    acc = acc << -params.out_shift if params.out_shift < 0 else round_shift(acc, params.out_shift)
    return clamp(acc, params.act_min, params.act_max).astype(np.int8)


RESIZE_MAX_SIZE = 1024  # resize_bilinear_s8's largest input or output height and width (HIL_RESIZE_MAX_SIZE)


def _resize_axis(align_corners: int, size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(i0, i1, frac, den) of every output index on one axis: PyTorch's source coordinate is i0 + frac / den."""
    d = np.arange(size_out, dtype=np.int64)
    if align_corners:
        den = size_out - 1 if size_out > 1 else 1
        num = d * (size_in - 1) if size_out > 1 else np.zeros_like(d)
    else:
        den = 2 * size_out
        num = np.maximum((2 * d + 1) * size_in - size_out, 0)
    i0, frac = num // den, num % den
    return i0, np.minimum(i0 + 1, size_in - 1), frac, den


def resize_bilinear_s8(params: ResizeBilinearParams, input: np.ndarray, output_hw: tuple[int, int]) -> np.ndarray:
    """resize_bilinear_s8: F.interpolate(mode="bilinear", align_corners) sample points, integer weights
    (den - frac, frac) per axis, the four taps' sum divided by den_y * den_x once, halves away from zero."""
    x = np.asarray(input)
    if x.dtype != np.int8 or x.ndim != 4 or x.shape[0] < 1 or x.shape[3] < 1:
        raise KernelRangeError(f"resize_bilinear_s8 takes an int8 NHWC map, got {x.dtype} {x.shape}")
    out_h, out_w = (int(v) for v in output_hw)
    if not all(1 <= v <= RESIZE_MAX_SIZE for v in (*x.shape[1:3], out_h, out_w)):
        raise KernelRangeError(
            f"resize_bilinear_s8 sizes must be 1..{RESIZE_MAX_SIZE}: {x.shape[1:3]} -> {(out_h, out_w)}"
        )
    if params.align_corners not in (0, 1):
        raise KernelRangeError(f"resize_bilinear_s8 align_corners must be 0 or 1: {params}")
    y0, y1, fy, den_y = _resize_axis(params.align_corners, x.shape[1], out_h)
    x0, x1, fx, den_x = _resize_axis(params.align_corners, x.shape[2], out_w)
    wy0, wy1 = (den_y - fy)[:, None, None], fy[:, None, None]
    wx0, wx1 = (den_x - fx)[None, :, None], fx[None, :, None]
    v = x.astype(np.int64)
    top, bottom = v[:, y0], v[:, y1]
    acc = wy0 * (wx0 * top[:, :, x0] + wx1 * top[:, :, x1]) + wy1 * (wx0 * bottom[:, :, x0] + wx1 * bottom[:, :, x1])
    total = den_y * den_x
    rounded = np.where(acc >= 0, (acc + total // 2) // total, -((-acc + total // 2) // total))
    return clamp(rounded, -128, 127).astype(np.int8)


def softmax_s8(params: SoftmaxParams, input: np.ndarray, exp_table: np.ndarray) -> np.ndarray:
    """softmax_s8 over the last axis."""
    exp_table = _check(exp_table, np.int32, 1, "exp_table")
    x = np.asarray(input).astype(np.int64)
    t = exp_table.astype(np.int64)[x.max(axis=-1, keepdims=True) - x]
    s = t.sum(axis=-1, keepdims=True)
    p = ((t << (params.out_frac_bits + 1)) + s) // (2 * s)
    return clamp(p, params.act_min, params.act_max).astype(np.int8)
