"""Bit-exact twin of fastgrnn_step_s16, the accumulator bound the C relies on, and a quantiser that turns a
float FastGRNN cell (EdgeML's W [input, hidden], U [hidden, hidden]) into the kernel's integers."""

from __future__ import annotations

import math

import numpy as np

from hil.kernels_ref.fixed import KernelRangeError, check_int32, round_shift
from hil.kernels_ref.nonlinear import INPUT_FRAC_BITS, sigmoid_q15, tanh_q15
from hil.kernels_ref.params import FastGRNNParams, FastGRNNWeights

ACC_LIMIT = 2**30  # the pre-activation bound of hil_kernels.h
MAX_PRE_SHIFT = 14  # the C folds the nonlinearities' offsets (up to 32784 * 2^pre_shift) into int32 biases
H_MAX = 32768  # the bound assumes any int16 hidden state


def fastgrnn_step_s16(params: FastGRNNParams, weights: FastGRNNWeights, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One step, batched over leading axes: x [..., input] and h [..., hidden] int16 -> h' [..., hidden] int16."""
    x64, h64 = np.asarray(x, dtype=np.int64), np.asarray(h, dtype=np.int64)
    wx = x64 @ weights.w.astype(np.int64).T
    uh = h64 @ weights.u.astype(np.int64).T
    acc = (wx << params.wx_shift) + (uh << params.uh_shift)
    pre_g = acc + weights.bias_gate.astype(np.int64)
    pre_h = acc + weights.bias_update.astype(np.int64)
    check_int32(pre_g, "FastGRNN gate pre-activation", ACC_LIMIT + 1)
    check_int32(pre_h, "FastGRNN update pre-activation", ACC_LIMIT + 1)
    z = sigmoid_q15(round_shift(pre_g, params.pre_shift))
    c = tanh_q15(round_shift(pre_h, params.pre_shift))
    k = ((params.zeta_q15 * (32768 - z) + 16384) >> 15) + params.nu_q15
    kc = round_shift(k * c, 15 - params.h_frac_bits)
    return np.clip(round_shift(z * h64 + kc, 15), -32768, 32767).astype(np.int16)


def fastgrnn_accumulator_bound(params: FastGRNNParams, weights: FastGRNNWeights, x_max_abs: int) -> int:
    """max over units of (sum|w| * x_max_abs) << wx_shift + (sum|u| * 32768) << uh_shift + max(|b_g|, |b_h|):
    the C is exact when this is <= 2^30."""
    w = np.abs(weights.w.astype(np.int64)).sum(axis=1) * x_max_abs << params.wx_shift
    u = np.abs(weights.u.astype(np.int64)).sum(axis=1) * H_MAX << params.uh_shift
    b = np.maximum(np.abs(weights.bias_gate.astype(np.int64)), np.abs(weights.bias_update.astype(np.int64)))
    return int((w + u + b).max())


def check_fastgrnn(params: FastGRNNParams, weights: FastGRNNWeights, x_max_abs: int) -> None:
    """Raises KernelRangeError unless the weights and shifts satisfy the C kernel's preconditions."""
    bound = fastgrnn_accumulator_bound(params, weights, x_max_abs)
    if bound > ACC_LIMIT:
        raise KernelRangeError(f"FastGRNN pre-activation bound {bound} exceeds 2^30: coarsen the accumulator")
    limits = {
        "wx_shift": (0, 30),
        "uh_shift": (0, 30),
        "pre_shift": (0, MAX_PRE_SHIFT),
        "h_frac_bits": (0, 14),
        "zeta_q15": (0, 32768),
        "nu_q15": (0, 32768),
    }
    for name, (lo, hi) in limits.items():
        if not lo <= getattr(params, name) <= hi:
            raise KernelRangeError(f"FastGRNN {name}={getattr(params, name)} outside {lo}..{hi}")


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v > -700 else 0.0


def _fit_exponent(max_abs: float, bits: int = 15) -> int:
    """The smallest exponent e with round(max_abs / 2^e) <= 2^bits - 1."""
    if max_abs == 0:
        return -30
    e = math.ceil(math.log2(max_abs / (2**bits - 1)))
    while round(max_abs / 2.0**e) > 2**bits - 1:
        e += 1
    return e


def quantize_fastgrnn(
    w: np.ndarray,
    u: np.ndarray,
    bias_gate: np.ndarray,
    bias_update: np.ndarray,
    zeta: float,
    nu: float,
    x_exponent: int,
    x_max_abs: int,
    h_frac_bits: int,
) -> tuple[FastGRNNParams, FastGRNNWeights, int]:
    """Float cell (EdgeML layout: w [input, hidden], u [hidden, hidden], x @ w) -> (params, weights, acc exponent).

    x real = x_q * 2^x_exponent with |x_q| <= x_max_abs; h is Q(h_frac_bits). The accumulator exponent ea is
    the finest that keeps the bound <= 2^30, within Q12..Q26 (pre_shift 0..14: finer bits lie far below the table's
    resolution); W and U get the finest exponent that fits int16 and is not finer than the accumulator can use.
    """
    w_t, u_t = np.asarray(w, dtype=np.float64).T, np.asarray(u, dtype=np.float64).T
    bg, bh = np.asarray(bias_gate, dtype=np.float64).ravel(), np.asarray(bias_update, dtype=np.float64).ravel()
    x_max = x_max_abs * 2.0**x_exponent
    h_max = H_MAX * 2.0**-h_frac_bits
    real_bound = (np.abs(w_t).sum(1) * x_max + np.abs(u_t).sum(1) * h_max + np.maximum(np.abs(bg), np.abs(bh))).max()
    ea = min(math.ceil(math.log2(max(real_bound, 2.0**-40))) - 30, -INPUT_FRAC_BITS)
    ea = max(ea, -INPUT_FRAC_BITS - MAX_PRE_SHIFT)
    while True:
        if ea > -INPUT_FRAC_BITS:
            raise KernelRangeError(
                f"FastGRNN pre-activations up to {real_bound:.3g} need an accumulator coarser than Q12"
            )
        ew = max(_fit_exponent(float(np.abs(w_t).max())), ea - x_exponent)
        eu = max(_fit_exponent(float(np.abs(u_t).max())), ea + h_frac_bits)
        params = FastGRNNParams(
            wx_shift=ew + x_exponent - ea,
            uh_shift=eu - h_frac_bits - ea,
            pre_shift=-INPUT_FRAC_BITS - ea,
            h_frac_bits=h_frac_bits,
            zeta_q15=round(_sigmoid(zeta) * 32768),
            nu_q15=round(_sigmoid(nu) * 32768),
        )
        weights = FastGRNNWeights(
            w=np.round(w_t / 2.0**ew).astype(np.int16),
            u=np.round(u_t / 2.0**eu).astype(np.int16),
            bias_gate=np.round(bg / 2.0**ea).astype(np.int32),
            bias_update=np.round(bh / 2.0**ea).astype(np.int32),
        )
        if fastgrnn_accumulator_bound(params, weights, x_max_abs) <= ACC_LIMIT:
            return params, weights, ea
        ea += 1  # rounding pushed the integer bound over: one bit coarser
