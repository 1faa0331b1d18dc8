"""Bit-exact twins of the element-wise kernels: add_s8, add_a16, and the normalisations over the channels of each
pixel, l2norm_s8 and layer_norm_s8."""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.fixed import INT32_MAX, KernelRangeError, clamp, isqrt, round_shift
from hil.kernels_ref.params import AddA16Params, AddParams, L2NormParams, LayerNormParams, add_a16_params


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
    """(r, e) per sum of squares 1 <= ss < 2^53: e even with ss * 2^e in [2^28, 2^30) (a negative e, for ss >= 2^30,
    is a right shift: floor(ss / 2^-e)), r = floor(2^30 / isqrt(ss * 2^e))."""
    ss = np.asarray(ss, dtype=np.int64)
    bits = np.frexp(ss.astype(np.float64))[1].astype(np.int64)  # bit length, exact below 2^53
    e = 30 - bits
    e = np.where(e % 2 == 1, e - 1, e)
    n = isqrt(np.where(e >= 0, ss << np.maximum(e, 0), ss >> np.maximum(-e, 0)))
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


# layer_norm_s8's channels and out_shift range (hil_kernels.h), which the quantiser checks against too
LAYER_NORM_MAX_CHANNELS = 4096
LAYER_NORM_SHIFTS = (-8, 29)


def layer_norm_s8(params: LayerNormParams, input: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """LayerNorm over the last axis (any leading axes, C in 1..4096 channels): the integer algorithm documented in
    hil_kernels.h, int8 input, int16 gamma [C] (w * sqrt(C) at exponent eg), int32 beta [C] (b at the output's
    exponent minus 8)."""
    input, gamma, beta = np.asarray(input), np.asarray(gamma), np.asarray(beta)
    if (
        input.dtype != np.int8
        or input.ndim < 1
        or gamma.dtype != np.int16
        or beta.dtype != np.int32
        or gamma.shape != input.shape[-1:]
        or beta.shape != input.shape[-1:]
    ):
        raise TypeError(
            f"layer_norm_s8 takes int8 [..., C], int16 gamma [C] and int32 beta [C], got {input.dtype} {input.shape}, "
            f"{gamma.dtype} {gamma.shape} and {beta.dtype} {beta.shape}"
        )
    chans, (low, high) = input.shape[-1], LAYER_NORM_SHIFTS
    if (
        not 1 <= chans <= LAYER_NORM_MAX_CHANNELS
        or not low <= params.out_shift <= high
        or not 0 <= params.eps <= INT32_MAX
    ):
        raise KernelRangeError(
            f"layer_norm_s8 takes 1..4096 channels, out_shift in -8..29 and eps in 0..2^31-1, got {chans} channels "
            f"and {params}"
        )
    x = input.astype(np.int64)
    s = x.sum(axis=-1, keepdims=True)
    q = (x * x).sum(axis=-1, keepdims=True)
    ss = chans * (chans * q - s * s) + params.eps  # = sum (C x - s)^2 + eps < 2^50
    r, e = l2norm_inverse_norm(np.maximum(ss, 1))
    sh = 30 - e // 2 + params.out_shift
    d = chans * x - s
    v = round_shift(d * gamma.astype(np.int64) * r, sh - 8)
    out = round_shift(v + beta.astype(np.int64), 8)  # ss == 0: every d is 0, so this is the C's beta-only path
    return clamp(out, params.act_min, params.act_max).astype(np.int8)
