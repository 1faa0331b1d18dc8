"""Bit-exact twin of conv2d_s8_w16 (firmware/kernels/conv2d_s8_w16.c): conv2d_s8 with int16 weights."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.conv import _check, _padded, _requantize
from hil.kernels_ref.fixed import KernelRangeError
from hil.kernels_ref.params import ConvParams

MAX_FAN_IN = 256  # 256 * 128 * 32768 = 2^30: with |bias| < 2^30 every int32 sum is exact
BIAS_LIMIT = 2**30


def conv2d_s8_w16(
    params: ConvParams, input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None, output_hw: tuple[int, int]
) -> np.ndarray:
    """conv2d_s8_w16: NHWC int8 input, OHWI int16 filter, int32 bias; output [n, *output_hw, filter O] int8."""
    input = _check(input, np.int8, 4, "input")
    filter = _check(filter, np.int16, 4, "filter")
    out_c, k_h, k_w, in_c = filter.shape
    if in_c != input.shape[3] or k_h * k_w * in_c > MAX_FAN_IN:
        raise KernelRangeError(f"filter {filter.shape} does not fit input {input.shape} (fan-in <= {MAX_FAN_IN})")
    if bias is not None and np.abs(np.asarray(bias, np.int64)).max() >= BIAS_LIMIT:
        raise KernelRangeError("|bias| reaches 2^30 (limit of conv2d_s8_w16)")
    out_h, out_w = output_hw
    padded = _padded(input, params, k_h, k_w, out_h, out_w)
    acc = np.zeros((input.shape[0], out_h, out_w, out_c), dtype=np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    for ky in range(k_h):
        for kx in range(k_w):
            patch = padded[
                :,
                ky : ky + params.stride_h * out_h : params.stride_h,
                kx : kx + params.stride_w * out_w : params.stride_w,
                :,
            ]
            acc += np.einsum("bhwc,oc->bhwo", patch, filter[:, ky, kx, :].astype(np.int64))
    return _requantize(acc, params)
