"""Bit-exact twins of rnnpool_s8 and rnnpool_wide_s8, batched over patches for a whole RNNPool layer."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.fastgrnn import fastgrnn_step_s16
from hil.kernels_ref.fc_a16 import DTYPES, check_clamp
from hil.kernels_ref.fixed import KernelRangeError, clamp, round_shift
from hil.kernels_ref.params import FastGRNNParams, FastGRNNWeights, RNNPoolParams


def rnnpool_get_buffer_size(params: RNNPoolParams, rnn1: FastGRNNWeights, rnn2: FastGRNNWeights) -> int:
    """rnnpool_s8_get_buffer_size: scratch bytes of every rnnpool kernel (hil_rnnpool_scratch in hil_kernels.h):
    int32 projection ring, folded biases, RNN2 input terms and accumulators, then int16 summaries, states and the
    widened pixel."""
    r, c, h1, h2 = params.patch_h, params.patch_w, rnn1.hidden_size, rnn2.hidden_size
    longest = max(r, c)
    words = c * r * h1 + 2 * h1 + 2 * h2 + longest * h2 + max(h1, h2)
    halves = longest * h1 + 2 * h1 + 2 * h2 + 4 * h2 + rnn1.input_size
    return 4 * words + 2 * halves


def _run(params: FastGRNNParams, weights: FastGRNNWeights, sequence: np.ndarray) -> np.ndarray:
    """Final state of a cell run from zero over sequence [batch, steps, input]."""
    h = np.zeros((sequence.shape[0], weights.hidden_size), dtype=np.int16)
    for t in range(sequence.shape[1]):
        h = fastgrnn_step_s16(params, weights, sequence[:, t, :], h)
    return h


def rnnpool_patches_wide(
    params: RNNPoolParams, rnn1: FastGRNNWeights, rnn2: FastGRNNWeights, patches: np.ndarray
) -> np.ndarray:
    """patches [P, r, c, k] int8 -> [P, 4*h2] int16: rows fwd, rows bwd, columns fwd, columns bwd."""
    n_patches, r, c, k = patches.shape
    if (r, c) != (params.patch_h, params.patch_w) or k != rnn1.input_size or rnn2.input_size != rnn1.hidden_size:
        raise KernelRangeError(f"patches {patches.shape} do not fit RNNPool {params.patch_h}x{params.patch_w}, k={k}")
    x = patches.astype(np.int16)
    rows = _run(params.rnn1, rnn1, x.reshape(n_patches * r, c, k)).reshape(n_patches, r, -1)
    cols = _run(params.rnn1, rnn1, x.transpose(0, 2, 1, 3).reshape(n_patches * c, r, k)).reshape(n_patches, c, -1)
    return np.concatenate(
        [
            _run(params.rnn2, rnn2, rows),
            _run(params.rnn2, rnn2, rows[:, ::-1]),
            _run(params.rnn2, rnn2, cols),
            _run(params.rnn2, rnn2, cols[:, ::-1]),
        ],
        axis=1,
    )


def output_dtype(params: RNNPoolParams) -> type:
    """The requantised output's type: int8, or int16 where the layer's output was widened (out_bits 16); the clamp
    must fit it."""
    if params.out_bits not in DTYPES:
        raise KernelRangeError(f"out_bits {params.out_bits}: RNNPool writes int8 (8) or int16 (16)")
    check_clamp(params.act_min, params.act_max, params.out_bits)
    return DTYPES[params.out_bits]


def per_patch_int8_only(params: RNNPoolParams) -> None:
    """The per-patch kernels (rnnpool_s8, rnnpool_offset_s8) write int8 only; rnnpool_layer_s8 also int16."""
    if params.out_bits != 8:
        raise KernelRangeError(f"out_bits {params.out_bits}: a per-patch RNNPool kernel writes int8 (8) only")


def requantize_rnnpool(params: RNNPoolParams, states: np.ndarray) -> np.ndarray:
    """rnnpool_s8's last step: int16 states -> int8 (or int16, out_bits), clamp(round_shift(state, out_shift))."""
    return clamp(round_shift(states, params.out_shift), params.act_min, params.act_max).astype(output_dtype(params))


def _patch(params: RNNPoolParams, input: np.ndarray, y0: int, x0: int) -> np.ndarray:
    if input.dtype != np.int8 or input.ndim != 4:
        raise TypeError(f"rnnpool takes an int8 NHWC map, got {input.dtype} {input.shape}")
    if y0 < 0 or x0 < 0 or y0 + params.patch_h > input.shape[1] or x0 + params.patch_w > input.shape[2]:
        raise KernelRangeError(f"patch at ({y0}, {x0}) leaves the map {input.shape}")
    return input[0:1, y0 : y0 + params.patch_h, x0 : x0 + params.patch_w, :]


def rnnpool_wide_s8(
    params: RNNPoolParams, input: np.ndarray, y0: int, x0: int, rnn1: FastGRNNWeights, rnn2: FastGRNNWeights
) -> np.ndarray:
    """rnnpool_wide_s8: one patch at (y0, x0) of batch 0 of an NHWC int8 map -> 4*h2 int16."""
    return rnnpool_patches_wide(params, rnn1, rnn2, _patch(params, input, y0, x0))[0]


def rnnpool_s8(
    params: RNNPoolParams, input: np.ndarray, y0: int, x0: int, rnn1: FastGRNNWeights, rnn2: FastGRNNWeights
) -> np.ndarray:
    """rnnpool_s8: as rnnpool_wide_s8, requantised to int8."""
    per_patch_int8_only(params)
    return requantize_rnnpool(params, rnnpool_wide_s8(params, input, y0, x0, rnn1, rnn2))


def rnnpool_layer_s8(
    params: RNNPoolParams, input: np.ndarray, stride: int, rnn1: FastGRNNWeights, rnn2: FastGRNNWeights
) -> np.ndarray:
    """The operator strided over a map (nn.Unfold order): [n, h, w, k] -> [n, oh, ow, 4*h2] int8 (int16 with
    out_bits 16): the C's rnnpool_layer_s8 with no offset (the same integers as rnnpool_s8 once per patch)."""
    n, height, width, k = input.shape
    oh, ow = (height - params.patch_h) // stride + 1, (width - params.patch_w) // stride + 1
    windows = np.lib.stride_tricks.sliding_window_view(input, (params.patch_h, params.patch_w), axis=(1, 2))
    patches = (
        windows[:, ::stride, ::stride][:, :oh, :ow].transpose(0, 1, 2, 4, 5, 3).reshape(-1, *windows.shape[-2:], k)
    )
    wide = rnnpool_patches_wide(params, rnn1, rnn2, patches)
    return requantize_rnnpool(params, wide).reshape(n, oh, ow, -1)
