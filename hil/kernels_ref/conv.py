"""Bit-exact twins of the convolution kernels (conv2d_s8, depthwise_conv2d_s8, pointwise_conv2d_s8). As the C, each
takes out_shift: the int8 rounding right shift of every output channel, in 0..MAX_SHIFT."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.fixed import KernelRangeError, check_int32, clamp, round_shift
from hil.kernels_ref.params import ConvParams

MAX_SHIFT = 31  # the largest shift the C kernels accept (hil_nn_shifts_valid)


def _check(array: np.ndarray, dtype: type, ndim: int, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype != dtype or array.ndim != ndim:
        raise TypeError(f"{name}: expected {np.dtype(dtype)} with {ndim} dims, got {array.dtype} {array.shape}")
    return array


def _padded(image: np.ndarray, params: ConvParams, k_h: int, k_w: int, out_h: int, out_w: int) -> np.ndarray:
    """The input padded with params.pad_value (0 for kernels without one) above/left (pad) and below/right as far
    as the output reads."""
    _, in_h, in_w, _ = image.shape
    bottom = max(0, (out_h - 1) * params.stride_h + k_h - params.pad_h - in_h)
    right = max(0, (out_w - 1) * params.stride_w + k_w - params.pad_w - in_w)
    pads = ((0, 0), (params.pad_h, bottom), (params.pad_w, right), (0, 0))
    return np.pad(image.astype(np.int64), pads, constant_values=getattr(params, "pad_value", 0))


def _zero_padded(params: ConvParams) -> None:
    """The int8-weight convolutions pad with zeros only (conv2d_s8_w16 takes a pad value)."""
    if params.pad_value != 0:
        raise KernelRangeError(f"pad_value {params.pad_value}: only conv2d_s8_w16 pads with a value other than 0")


def _windows(input: np.ndarray, params: ConvParams, k_h: int, k_w: int, output_hw: tuple[int, int]):
    """(ky, kx, the int64 input pixels that kernel tap reads for every output pixel), tap by tap."""
    out_h, out_w = output_hw
    padded = _padded(input, params, k_h, k_w, out_h, out_w)
    for ky in range(k_h):
        for kx in range(k_w):
            yield (
                ky,
                kx,
                padded[
                    :,
                    ky : ky + params.stride_h * out_h : params.stride_h,
                    kx : kx + params.stride_w * out_w : params.stride_w,
                    :,
                ],
            )


def _bias_accumulator(batch: int, output_hw: tuple[int, int], channels: int, bias: np.ndarray | None) -> np.ndarray:
    acc = np.zeros((batch, *output_hw, channels), dtype=np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return acc


def convolve(
    params: ConvParams, input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None, output_hw: tuple[int, int]
) -> np.ndarray:
    """The exact int64 sums of a standard convolution (OHWI filter of any integer type), before requantising."""
    acc = _bias_accumulator(input.shape[0], output_hw, filter.shape[0], bias)
    for ky, kx, patch in _windows(input, params, filter.shape[1], filter.shape[2], output_hw):
        acc += np.einsum("bhwc,oc->bhwo", patch, filter[:, ky, kx, :].astype(np.int64))
    return acc


def _requantize(acc: np.ndarray, params: ConvParams, out_shift: np.ndarray) -> np.ndarray:
    """acc [..., C] rounded right by out_shift [C] (channel by channel) and clamped, as int8."""
    check_int32(acc, "accumulator")
    out_shift = _check(out_shift, np.int8, 1, "out_shift")
    if out_shift.shape[0] != acc.shape[-1]:
        raise KernelRangeError(f"out_shift has {out_shift.shape[0]} entries for {acc.shape[-1]} output channels")
    if out_shift.size and (out_shift.min() < 0 or out_shift.max() > MAX_SHIFT):
        raise KernelRangeError(f"out_shift outside 0..{MAX_SHIFT}: {out_shift.min()}..{out_shift.max()}")
    return clamp(round_shift(acc, out_shift), params.act_min, params.act_max).astype(np.int8)


def conv2d_s8(
    params: ConvParams,
    out_shift: np.ndarray,
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None,
    output_hw: tuple[int, int],
) -> np.ndarray:
    """conv2d_s8: NHWC int8 input, OHWI int8 filter, int32 bias, int8 shift per output channel; output
    [n, *output_hw, filter O]."""
    input = _check(input, np.int8, 4, "input")
    filter = _check(filter, np.int8, 4, "filter")
    _zero_padded(params)
    if filter.shape[3] != input.shape[3]:
        raise KernelRangeError(f"filter has {filter.shape[3]} input channels, input {input.shape[3]}")
    return _requantize(convolve(params, input, filter, bias, output_hw), params, out_shift)


def depthwise_sums(
    params: ConvParams, input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None, output_hw: tuple[int, int]
) -> np.ndarray:
    """The exact int64 sums of a depthwise convolution (filter [1, kh, kw, C]), before requantising."""
    acc = _bias_accumulator(input.shape[0], output_hw, input.shape[3], bias)
    for ky, kx, patch in _windows(input, params, filter.shape[1], filter.shape[2], output_hw):
        acc += patch * filter[0, ky, kx, :].astype(np.int64)
    return acc


def depthwise_conv2d_s8(
    params: ConvParams,
    out_shift: np.ndarray,
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None,
    output_hw: tuple[int, int],
) -> np.ndarray:
    """depthwise_conv2d_s8: filter [1, kh, kw, C], channel multiplier 1; output [n, *output_hw, C]."""
    input = _check(input, np.int8, 4, "input")
    filter = _check(filter, np.int8, 4, "filter")
    _zero_padded(params)
    if filter.shape[0] != 1 or filter.shape[3] != input.shape[3]:
        raise KernelRangeError(f"depthwise filter {filter.shape} does not fit input {input.shape}")
    return _requantize(depthwise_sums(params, input, filter, bias, output_hw), params, out_shift)


def pointwise_conv2d_s8(
    params: ConvParams, out_shift: np.ndarray, input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None
) -> np.ndarray:
    """pointwise_conv2d_s8: 1x1 convolution, filter [C_out, 1, 1, C_in]; output [n, h, w, C_out]."""
    input = _check(input, np.int8, 4, "input")
    filter = _check(filter, np.int8, 4, "filter")
    _zero_padded(params)
    if filter.shape[1:] != (1, 1, input.shape[3]):
        raise KernelRangeError(f"pointwise filter {filter.shape} does not fit input {input.shape}")
    # int64 products have no BLAS and took most of the exponent search's time; float64 sums of int8 products are
    # exact (under 2^53), so the matrix product gives the same integers
    flat = input.reshape(-1, input.shape[3]).astype(np.float64) @ filter[:, 0, 0, :].astype(np.float64).T
    acc = flat.astype(np.int64).reshape(*input.shape[:3], filter.shape[0])
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return _requantize(acc, params, out_shift)
