"""Bit-exact twin of conv2d_s8_w16 (firmware/kernels/conv2d_s8_w16.c): conv2d_s8 with int16 weights, and padded taps
reading params.pad_value."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.conv import _check, _requantize, convolve
from hil.kernels_ref.fixed import KernelRangeError
from hil.kernels_ref.params import ConvParams

MAX_FAN_IN = 256  # 256 * 128 * 32768 = 2^30: with |bias| < 2^30 every int32 sum is exact
BIAS_LIMIT = 2**30


def conv2d_s8_w16(
    params: ConvParams,
    out_shift: np.ndarray,
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None,
    output_hw: tuple[int, int],
) -> np.ndarray:
    """conv2d_s8_w16: NHWC int8 input, OHWI int16 filter, int32 bias, int8 shift per output channel; output
    [n, *output_hw, filter O] int8."""
    input = _check(input, np.int8, 4, "input")
    filter = _check(filter, np.int16, 4, "filter")
    _, k_h, k_w, in_c = filter.shape
    if in_c != input.shape[3] or k_h * k_w * in_c > MAX_FAN_IN:
        raise KernelRangeError(f"filter {filter.shape} does not fit input {input.shape} (fan-in <= {MAX_FAN_IN})")
    if bias is not None and np.abs(np.asarray(bias, np.int64)).max() >= BIAS_LIMIT:
        raise KernelRangeError("|bias| reaches 2^30 (limit of conv2d_s8_w16)")
    if not -128 <= params.pad_value <= 127:
        raise KernelRangeError(f"pad_value {params.pad_value} outside the int8 range")
    return _requantize(convolve(params, input, filter, bias, output_hw), params, out_shift)
