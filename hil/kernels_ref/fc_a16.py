"""Bit-exact twin of fully_connected_a16 (firmware/kernels/fully_connected_a16.c): fully_connected_s8 with int8
or int16 activations on either side (an int16 input summed in 64 bits), and the width checks and requantisation
the _a16 twins share."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.conv import MAX_SHIFT, _check
from hil.kernels_ref.fixed import KernelRangeError, check_int32, clamp, round_shift
from hil.kernels_ref.params import ConvA16Params, FullyConnectedA16Params

MAX_N = 65536
DTYPES = {8: np.int8, 16: np.int16}


def check_widths(params: FullyConnectedA16Params | ConvA16Params) -> None:
    """The _a16 kernels' widths: 8 or 16 bits each, the clamp within the output's range."""
    if params.in_bits not in DTYPES or params.out_bits not in DTYPES:
        raise KernelRangeError(f"widths {params.in_bits}/{params.out_bits}: expected 8 or 16 bits")
    check_clamp(params.act_min, params.act_max, params.out_bits)


def check_clamp(act_min: int, act_max: int, bits: int) -> None:
    """A clamp an output of bits (8 or 16) can hold, in order: a wider one would be truncated by the store
    (hil_a16_clamp_valid in C)."""
    top = 2 ** (bits - 1) - 1
    if not -top - 1 <= act_min <= act_max <= top:
        raise KernelRangeError(f"clamp {act_min}..{act_max} outside int{bits}")


def requantize_a16(
    acc: np.ndarray, params: FullyConnectedA16Params | ConvA16Params, out_shift: np.ndarray
) -> np.ndarray:
    """The exact sums acc [..., C] rounded right by out_shift [C], clamped, in the output's width."""
    out_shift = _check(out_shift, np.int8, 1, "out_shift")
    if out_shift.shape[0] != acc.shape[-1] or out_shift.min() < 0 or out_shift.max() > MAX_SHIFT:
        raise KernelRangeError(f"out_shift: {acc.shape[-1]} shifts in 0..{MAX_SHIFT} expected")
    return clamp(round_shift(acc, out_shift), params.act_min, params.act_max).astype(DTYPES[params.out_bits])


def fully_connected_a16(
    params: FullyConnectedA16Params,
    out_shift: np.ndarray,
    input: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
) -> np.ndarray:
    """input [..., N] of in_bits, weight [M, N] int8; output [..., M] of out_bits."""
    check_widths(params)
    input = np.asarray(input)
    weight = _check(weight, np.int8, 2, "weight")
    n = weight.shape[1]
    if input.dtype != DTYPES[params.in_bits] or input.shape[-1] != n:
        raise KernelRangeError(f"weight {weight.shape} does not fit input {input.dtype} {input.shape}")
    if n > MAX_N:
        raise KernelRangeError(f"{n} inputs: at most {MAX_N}")
    acc = input.astype(np.int64) @ weight.astype(np.int64).T
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    if params.in_bits == 8:  # the C sums an int8 input in int32, an int16 input in int64
        check_int32(acc, "accumulator")
    return requantize_a16(acc, params, out_shift)
