"""Bit-exact twins of conv2d_a16, conv2d_a16_w16 and depthwise_conv2d_a16 (firmware/kernels/): conv2d_s8 and
depthwise_conv2d_s8 with int8 or int16 activations on either side, and conv2d_a16 with int16 weights."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.conv import _check, convolve, depthwise_sums
from hil.kernels_ref.fc_a16 import DTYPES, check_widths, requantize_a16
from hil.kernels_ref.fixed import KernelRangeError
from hil.kernels_ref.params import ConvA16Params

MAX_FAN_IN = 65536  # 2^16 * 2^22 products: far inside int64, whatever the bias


def conv2d_a16(
    params: ConvA16Params,
    out_shift: np.ndarray,
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None,
    output_hw: tuple[int, int],
) -> np.ndarray:
    """NHWC input of in_bits, OHWI int8 filter (the C reads it as conv_a16_device_filter lays it out), int32 bias,
    int8 shift per output channel; output [n, *output_hw, filter O] of out_bits."""
    return _conv_a16(params, out_shift, input, _check(filter, np.int8, 4, "filter"), bias, output_hw)


def conv2d_a16_w16(
    params: ConvA16Params,
    out_shift: np.ndarray,
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None,
    output_hw: tuple[int, int],
) -> np.ndarray:
    """conv2d_a16 with an OHWI int16 filter (the C reads it in that order); products reach 2^30, the 64-bit sums
    stay exact over MAX_FAN_IN of them."""
    return _conv_a16(params, out_shift, input, _check(filter, np.int16, 4, "filter"), bias, output_hw)


def _conv_a16(
    params: ConvA16Params,
    out_shift: np.ndarray,
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None,
    output_hw: tuple[int, int],
) -> np.ndarray:
    check_widths(params)
    input = _check(input, DTYPES[params.in_bits], 4, "input")
    _, k_h, k_w, in_c = filter.shape
    if in_c != input.shape[3] or k_h * k_w * in_c > MAX_FAN_IN:
        raise KernelRangeError(f"filter {filter.shape} does not fit input {input.shape} (fan-in <= {MAX_FAN_IN})")
    return requantize_a16(convolve(params, input, filter, bias, output_hw), params, out_shift)


def conv_a16_filter_paired(in_bits: int, in_channels: int) -> bool:
    """Whether conv2d_a16 reads its filter paired (conv_a16_device_filter): an int16 input whose channels come in 4s
    (filter_paired in firmware/kernels/conv2d_a16.c)."""
    return in_bits == 16 and in_channels % 4 == 0


def conv_a16_device_filter(filter: np.ndarray, in_bits: int) -> np.ndarray:
    """conv2d_a16's OHWI filter as the C kernel reads it: for an int16 input whose channels come in 4s, each tap's
    channels are stored 0, 2, 1, 3 in every 4 (paired), so SXTB16 of a filter word gives the halfword pairs 0,1 and
    2,3 that two words of int16 input hold and SMLAD takes two products at once; otherwise unchanged. The twin above
    takes the filter in OHWI order, the C in this one; the reorder is its own inverse."""
    return _paired(filter) if conv_a16_filter_paired(in_bits, filter.shape[3]) else filter


def conv_a16_w16_device_filter(filter: np.ndarray, in_bits: int) -> np.ndarray:
    """conv2d_a16_w16's OHWI int16 filter as the C kernel reads it: for an int8 input whose channels come in 4s, each
    tap's channels are stored 0, 2, 1, 3 in every 4 (paired), so a filter word holds the weights of channels 0,2 (or
    1,3) that SXTB16 of a word of input gives, and SMLAD takes two products at once; otherwise unchanged (an int16
    input's word pairs channels 0,1 as the filter does)."""
    return _paired(filter) if in_bits == 8 and filter.shape[3] % 4 == 0 else filter


def _paired(filter: np.ndarray) -> np.ndarray:
    """Each tap's channels reordered 0, 2, 1, 3 in every 4 (its own inverse)."""
    o, k_h, k_w, in_c = filter.shape
    return np.ascontiguousarray(filter.reshape(o, k_h, k_w, in_c // 4, 4)[..., [0, 2, 1, 3]].reshape(filter.shape))


MAX_DEPTHWISE_TAPS = 511  # the C sums a channel's taps in int32: 511 products of 2^22 stay below 2^31


def depthwise_conv2d_a16(
    params: ConvA16Params,
    out_shift: np.ndarray,
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None,
    output_hw: tuple[int, int],
) -> np.ndarray:
    """depthwise_conv2d_s8 with an input of in_bits and an output of out_bits: filter [1, kh, kw, C] int8, channel
    multiplier 1; output [n, *output_hw, C]."""
    check_widths(params)
    input = _check(input, DTYPES[params.in_bits], 4, "input")
    filter = _check(filter, np.int8, 4, "filter")
    _, k_h, k_w, chans = filter.shape
    if filter.shape[0] != 1 or chans != input.shape[3] or k_h * k_w > MAX_DEPTHWISE_TAPS:
        raise KernelRangeError(
            f"depthwise filter {filter.shape} does not fit input {input.shape} (at most {MAX_DEPTHWISE_TAPS} taps)"
        )
    return requantize_a16(depthwise_sums(params, input, filter, bias, output_hw), params, out_shift)
