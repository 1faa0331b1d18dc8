"""Bit-exact twin of rnnpool_offset_s8 (firmware/kernels/rnnpool_offset_s8.c), and the layer as a generated model
runs it (once per patch, nn.Unfold order)."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.fixed import KernelRangeError, clamp, round_shift
from hil.kernels_ref.params import FastGRNNWeights, RNNPoolParams
from hil.kernels_ref.rnnpool import output_dtype, per_patch_int8_only, rnnpool_patches_wide, rnnpool_wide_s8


def requantize_offset(params: RNNPoolParams, states: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """int16 states [..., 4*h2] -> int8 (or int16, out_bits): clamp(round_shift(state - offset, out_shift), act_min,
    act_max)."""
    if offset.dtype != np.int16 or offset.shape != states.shape[-1:]:
        raise KernelRangeError(f"offset must be int16 [{states.shape[-1]}], got {offset.dtype} {offset.shape}")
    if not 0 <= params.out_shift <= 31:
        raise KernelRangeError(f"out_shift {params.out_shift} outside 0..31")
    centred = states.astype(np.int64) - offset.astype(np.int64)
    return clamp(round_shift(centred, params.out_shift), params.act_min, params.act_max).astype(output_dtype(params))


def rnnpool_offset_s8(
    params: RNNPoolParams,
    input: np.ndarray,
    y0: int,
    x0: int,
    rnn1: FastGRNNWeights,
    rnn2: FastGRNNWeights,
    offset: np.ndarray,
) -> np.ndarray:
    """rnnpool_offset_s8: the patch at (y0, x0) of batch 0 of an NHWC int8 map -> 4*h2 int8."""
    per_patch_int8_only(params)
    return requantize_offset(params, rnnpool_wide_s8(params, input, y0, x0, rnn1, rnn2), offset)


def rnnpool_offset_layer_s8(
    params: RNNPoolParams,
    input: np.ndarray,
    stride: int,
    rnn1: FastGRNNWeights,
    rnn2: FastGRNNWeights,
    offset: np.ndarray,
) -> np.ndarray:
    """The operator strided over a map: [n, h, w, k] int8 -> [n, oh, ow, 4*h2] int8, batched over the patches: the C's
    rnnpool_layer_s8 with an offset (the same integers as rnnpool_offset_s8 once per patch)."""
    n, height, width, k = input.shape
    oh, ow = (height - params.patch_h) // stride + 1, (width - params.patch_w) // stride + 1
    windows = np.lib.stride_tricks.sliding_window_view(input, (params.patch_h, params.patch_w), axis=(1, 2))
    patches = (
        windows[:, ::stride, ::stride][:, :oh, :ow].transpose(0, 1, 2, 4, 5, 3).reshape(-1, *windows.shape[-2:], k)
    )
    return requantize_offset(params, rnnpool_patches_wide(params, rnn1, rnn2, patches), offset).reshape(n, oh, ow, -1)
