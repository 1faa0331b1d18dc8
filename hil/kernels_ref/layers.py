"""Bit-exact twins of the general models' kernels: grouped_conv2d_s8, fully_connected_s8, maxpool_s8,
avgpool_s8, lut_s8, prelu_s8, scale_channels_s8, scale_pixels_s8, resize_bilinear_s8, softmax_s8 and log_softmax_s8
(hil_kernels.h documents each formula), and log_softmax_tables, the tables log_softmax_s8 reads."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.conv import _check, _requantize
from hil.kernels_ref.fixed import KernelRangeError, clamp, round_shift
from hil.kernels_ref.params import (
    AvgPoolParams,
    ConvParams,
    FullyConnectedParams,
    GroupedConvParams,
    LogSoftmaxParams,
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
    """scale_channels_s8: round_shift(x * scale[c], out_shift), clamped; channels the last axis (the
    squeeze-and-excitation gate)."""
    scale, x = np.asarray(scale), np.asarray(input)
    if scale.dtype != np.int8 or scale.ndim != 1 or scale.size < 1:
        raise KernelRangeError(f"scale_channels_s8 takes one int8 scale a channel, got {scale.dtype} {scale.shape}")
    if x.dtype != np.int8 or x.ndim < 1 or x.shape[-1] != scale.size:
        raise KernelRangeError(
            f"scale_channels_s8 takes int8 values with {scale.size} channels last, got {x.dtype} {x.shape}"
        )
    return _scale(params, "scale_channels_s8", x, scale)


def scale_pixels_s8(params: ScaleChannelsParams, input: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """scale_pixels_s8: round_shift(x * scale[p], out_shift), clamped; channels the last axis and scale of shape
    input.shape[:-1] + (1,), one value a pixel (CBAM's spatial attention gate, [N, H, W, 1] in NHWC)."""
    scale, x = np.asarray(scale), np.asarray(input)
    if x.dtype != np.int8 or x.ndim < 1 or x.shape[-1] < 1:
        raise KernelRangeError(
            f"scale_pixels_s8 takes int8 values with at least one channel last, got {x.dtype} {x.shape}"
        )
    if scale.dtype != np.int8 or scale.shape != (*x.shape[:-1], 1):
        raise KernelRangeError(
            f"scale_pixels_s8 takes one int8 scale a pixel, shape {(*x.shape[:-1], 1)} for input {x.shape}, got "
            f"{scale.dtype} {scale.shape}"
        )
    return _scale(params, "scale_pixels_s8", x, scale)


def _scale(params: ScaleChannelsParams, kernel: str, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The requantised product both gates share, scale broadcast against x."""
    if not 0 <= params.out_shift <= 31:
        raise KernelRangeError(f"{kernel} out_shift out of range 0..31: {params}")
    acc = round_shift(x.astype(np.int64) * scale.astype(np.int64), params.out_shift)
    return clamp(acc, params.act_min, params.act_max).astype(np.int8)


RESIZE_MAX_SIZE = 1024  # resize_bilinear_s8's largest input or output height and width (HIL_RESIZE_MAX_SIZE)


def bilinear_axis(align_corners: int, size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(i0, i1, frac, den) of every output index on one axis: PyTorch's source coordinate is i0 + frac / den (the
    float executor places its samples with it too)."""
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
    y0, y1, fy, den_y = bilinear_axis(params.align_corners, x.shape[1], out_h)
    x0, x1, fx, den_x = bilinear_axis(params.align_corners, x.shape[2], out_w)
    wy0, wy1 = (den_y - fy)[:, None, None], fy[:, None, None]
    wx0, wx1 = (den_x - fx)[None, :, None], fx[None, :, None]
    v = x.astype(np.int64)
    top, bottom = v[:, y0], v[:, y1]
    acc = wy0 * (wx0 * top[:, :, x0] + wx1 * top[:, :, x1]) + wy1 * (wx0 * bottom[:, :, x0] + wx1 * bottom[:, :, x1])
    total = den_y * den_x
    rounded = np.where(acc >= 0, (acc + total // 2) // total, -((-acc + total // 2) // total))
    return clamp(rounded, -128, 127).astype(np.int8)


def _exp_terms(x: np.ndarray, exp_table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where softmax_s8 and log_softmax_s8 both start (hil_exp_sum_s8): each value less its row's largest (d <= 0),
    exp_table[-d], and the row's sum of those, all int64."""
    v = x.astype(np.int64)
    d = v - v.max(axis=-1, keepdims=True)
    t = exp_table.astype(np.int64)[-d]
    return d, t, t.sum(axis=-1, keepdims=True)


def softmax_s8(params: SoftmaxParams, input: np.ndarray, exp_table: np.ndarray) -> np.ndarray:
    """softmax_s8 over the last axis."""
    exp_table = _check(exp_table, np.int32, 1, "exp_table")
    _, t, s = _exp_terms(np.asarray(input), exp_table)
    p = ((t << (params.out_frac_bits + 1)) + s) // (2 * s)
    return clamp(p, params.act_min, params.act_max).astype(np.int8)


SOFTMAX_MAX_CHANNELS = 32767  # softmax_s8's and log_softmax_s8's largest row: S = sum of exp_table values < 2^31
LOG_TABLE_SIZE = 257  # log_table[i] = ln(1 + i / 256) for i = 0..256


def log_softmax_tables(e_in: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(exp_table int32[256], log_table int32[257], ln2_steps) of log_softmax_s8 for an input at exponent e_in:
    exp_table[d] = round(2^16 exp(-d 2^e_in)) (softmax_s8's table, exp_table[0] = 65536), log_table[i] =
    round(2^16 ln(1 + i / 256) / 2^e_in), ln2_steps = round(2^16 ln 2 / 2^e_in) (= log_table[256]). e_in >= -15, so
    that every value fits int32."""
    e_in = int(e_in)
    if e_in < -15:
        raise KernelRangeError(f"log_softmax_tables: e_in {e_in} < -15 puts ln 2 / 2^e_in in Q16 past int32")
    step = 2.0**e_in
    exp_table = np.round(65536.0 * np.exp(-np.arange(256) * step)).astype(np.int32)
    log_table = np.round(65536.0 * np.log1p(np.arange(LOG_TABLE_SIZE) / 256.0) / step).astype(np.int32)
    ln2_steps = int(np.round(65536.0 * np.log(2.0) / step))
    return exp_table, log_table, ln2_steps


def log_softmax_s8(
    params: LogSoftmaxParams, input: np.ndarray, exp_table: np.ndarray, log_table: np.ndarray
) -> np.ndarray:
    """log_softmax_s8 over the last axis of an int8 array of any rank (>= 1): ln of the row's exp_table sum from
    its leading one (k steps of ln 2) and log_table interpolated on the next 16 bits, in int64 as the C."""
    x = np.asarray(input)
    exp_table, log_table = np.asarray(exp_table), np.asarray(log_table)
    if x.dtype != np.int8 or x.ndim < 1 or not 1 <= x.shape[-1] <= SOFTMAX_MAX_CHANNELS:
        raise KernelRangeError(
            f"log_softmax_s8 takes int8 rows of 1..{SOFTMAX_MAX_CHANNELS} values, got {x.dtype} {x.shape}"
        )
    if exp_table.dtype != np.int32 or exp_table.shape != (256,):
        raise KernelRangeError(f"log_softmax_s8 exp_table must be int32[256], got {exp_table.dtype} {exp_table.shape}")
    if log_table.dtype != np.int32 or log_table.shape != (LOG_TABLE_SIZE,):
        raise KernelRangeError(f"log_softmax_s8 log_table must be int32[257], got {log_table.dtype} {log_table.shape}")
    if exp_table[0] != 65536 or exp_table.min() < 0 or exp_table.max() > 65536:
        raise KernelRangeError("log_softmax_s8 exp_table must hold 0..65536 with exp_table[0] = 65536 (S < 2^31)")
    if not 0 <= params.out_shift <= 15:
        raise KernelRangeError(f"log_softmax_s8 out_shift must be 0..15: {params}")
    d, _, s = _exp_terms(x, exp_table)  # 65536 <= s < 2^31
    k = sum((s >= 2 ** (17 + b)).astype(np.int64) for b in range(14))  # floor(log2 s) - 16, 0..14
    f16 = (s >> k) - 65536
    i, j = f16 >> 8, f16 & 255
    table = log_table.astype(np.int64)
    ln_sum = k * params.ln2_steps + table[i] + (((table[i + 1] - table[i]) * j) >> 8)
    out = round_shift(d * 65536 - ln_sum, 16 + params.out_shift)
    return clamp(out, params.act_min, params.act_max).astype(np.int8)
