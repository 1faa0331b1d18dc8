"""Bit-exact twins of the element-wise kernels: add_s8, add_a16 and l2norm_s8."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.fixed import clamp, isqrt, round_shift
from hil.kernels_ref.params import AddA16Params, AddParams, L2NormParams, add_a16_params


def add_s8(params: AddParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """out = clamp(round_shift((a << a_shift) + (b << b_shift), out_shift), act_min, act_max)."""
    if a.dtype != np.int8 or b.dtype != np.int8 or a.shape != b.shape:
        raise TypeError(f"add_s8 takes two int8 arrays of one shape, got {a.dtype} {a.shape} and {b.dtype} {b.shape}")
    return add_a16(add_a16_params(params), a, b)


def add_a16(params: AddA16Params, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """add_s8's formula with a, b and the output each int8 or int16 (params' widths)."""
    widths = (params.a_bits, params.b_bits)
    if [x.dtype for x in (a, b)] != [np.dtype(f"int{bits}") for bits in widths] or a.shape != b.shape:
        raise TypeError(
            f"add_a16 takes int{widths[0]} and int{widths[1]} arrays of one shape, got {a.dtype} "
            f"{a.shape} and {b.dtype} {b.shape}"
        )
    total = (a.astype(np.int64) << params.a_shift) + (b.astype(np.int64) << params.b_shift)
    return clamp(round_shift(total, params.out_shift), params.act_min, params.act_max).astype(f"int{params.out_bits}")


def l2norm_inverse_norm(ss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(r, e) per sum of squares ss >= 1: e even with ss << e in [2^28, 2^30), r = floor(2^30 / isqrt(ss << e))."""
    ss = np.asarray(ss, dtype=np.int64)
    bits = np.frexp(ss.astype(np.float64))[1].astype(np.int64)  # bit length, exact below 2^53
    e = 30 - bits
    e = np.where(e % 2 == 1, e - 1, e)
    n = isqrt(ss << e)
    return (np.int64(1) << 30) // n, e


def l2norm_s8(params: L2NormParams, input: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """SSD's L2Norm over the last axis: the integer algorithm documented in hil_kernels.h."""
    if input.dtype != np.int8 or gamma.dtype != np.int16 or gamma.shape != input.shape[-1:]:
        raise TypeError(f"l2norm_s8 takes int8 [..., C] and int16 gamma [C], got {input.shape}, {gamma.shape}")
    x = input.astype(np.int64)
    ss = (x * x).sum(axis=-1, keepdims=True)
    r, e = l2norm_inverse_norm(np.maximum(ss, 1))
    sh = 30 - e // 2 + params.out_shift
    out = round_shift(x * gamma.astype(np.int64) * r, sh)
    out = np.where(ss == 0, 0, out)
    return clamp(out, params.act_min, params.act_max).astype(np.int8)
