"""What the GRU and LSTM kernels share: the Q15 hidden state, the run over frames (forward or reverse, every step's
output or the final one), the accumulator bound, the params' limits, and the choice of shifts and integer weights.

A layer's gate rows are each a pre-activation a = (W x) << wx_shift + (U h) << uh_shift + biases, exact in int32
when every row's bound (sum|w| * max|x|) << wx_shift + (sum|u| * 32768) << uh_shift + its biases' magnitudes is
<= 2^30; the nonlinearities read round_shift(a, pre_shift) in Q12.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hil.kernels_ref.fastgrnn import ACC_LIMIT, MAX_PRE_SHIFT
from hil.kernels_ref.fixed import KernelRangeError, clamp, round_shift
from hil.kernels_ref.nonlinear import INPUT_FRAC_BITS, OUTPUT_ONE
from hil.kernels_ref.params import RecurrentParams, RecurrentWeights

STATE_FRAC_BITS = 15  # the hidden state is Q15
MAX_OUT_SHIFT = 15  # out_shift 0..15: output exponents -15..0

# The step of a layer: (params, weights, x [..., input], state) -> (h' [..., hidden] Q15, state'); state starts as
# zero_state(batch, hidden) and holds h (and an LSTM's cell).
Step = Callable[[RecurrentParams, RecurrentWeights, np.ndarray, tuple], tuple[np.ndarray, tuple]]


def run_frames(
    params: RecurrentParams, weights: RecurrentWeights, x: np.ndarray, step: Step, zero_state: tuple, what: str
) -> np.ndarray:
    """A layer over x [batch, steps, input] int8 from zero_state: [batch, steps, hidden] int8 (every step's output at
    its own frame, also when reverse), or [batch, 1, hidden] with last_only (the final state)."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != weights.input_size:
        raise ValueError(f"{what} input of shape {x.shape}: expected [batch, steps, {weights.input_size}]")
    steps = range(x.shape[1] - 1, -1, -1) if params.reverse else range(x.shape[1])
    state, h = zero_state, zero_state[0]
    states = np.zeros((x.shape[0], x.shape[1], weights.hidden_size), dtype=np.int64)
    for t in steps:
        h, state = step(params, weights, x[:, t], state)
        states[:, t] = h
    if params.last_only:
        states = h[:, None, :]
    return clamp(round_shift(states, params.out_shift), params.act_min, params.act_max).astype(np.int8)


def accumulator_bound(
    params: RecurrentParams, w: np.ndarray, u: np.ndarray, row_bias: np.ndarray, x_max_abs: int
) -> int:
    """max over gate rows of (sum|w| * x_max_abs) << wx_shift + (sum|u| * 32768) << uh_shift + row_bias (each row's
    biases' magnitudes, integers): the C is exact when this is <= 2^30."""
    w_sum = np.abs(w.astype(np.int64)).sum(axis=1) * x_max_abs << params.wx_shift
    u_sum = np.abs(u.astype(np.int64)).sum(axis=1) * OUTPUT_ONE << params.uh_shift
    return int((w_sum + u_sum + row_bias.astype(np.int64)).max())


def check_params(params: RecurrentParams, what: str) -> None:
    """Raises KernelRangeError unless every field is within the kernels' limits."""
    limits = {
        "wx_shift": (0, 30),
        "uh_shift": (0, 30),
        "pre_shift": (0, MAX_PRE_SHIFT),
        "out_shift": (0, MAX_OUT_SHIFT),
        "reverse": (0, 1),
        "last_only": (0, 1),
        "act_min": (-128, params.act_max),
        "act_max": (params.act_min, 127),
    }
    for name, (lo, hi) in limits.items():
        if not lo <= getattr(params, name) <= hi:
            raise KernelRangeError(f"{what} {name}={getattr(params, name)} outside {lo}..{hi}")


def check_shapes(weights: RecurrentWeights, gates: int, what: str) -> None:
    """Raises KernelRangeError unless w is [gates * hidden, input], u [gates * hidden, hidden] and bias
    [gates * hidden]."""
    n_h, n_in = weights.hidden_size, weights.input_size
    shapes = {"w": (gates * n_h, n_in), "u": (gates * n_h, n_h), "bias": (gates * n_h,)}
    for name, shape in shapes.items():
        if getattr(weights, name).shape != shape:
            raise KernelRangeError(f"{what} {name} of shape {getattr(weights, name).shape}: expected {shape}")


def check_layer(
    params: RecurrentParams, weights: RecurrentWeights, gates: int, bound: Callable[[], int], what: str
) -> None:
    """Raises KernelRangeError unless the weights' shapes, then the accumulator bound (bound: the layer's
    accumulator_bound, computed once the shapes hold) and the params are within what the C kernel proves safe."""
    check_shapes(weights, gates, what)
    bound = bound()
    if bound > ACC_LIMIT:
        raise KernelRangeError(f"{what} pre-activation bound {bound} exceeds 2^30: coarsen the accumulator")
    check_params(params, what)


def fit_weight_exponent(max_abs: float) -> int:
    """The smallest exponent e with round(max_abs / 2^e) <= 32767."""
    if max_abs == 0:
        return -30
    e = math.ceil(math.log2(max_abs / 32767))
    while round(max_abs / 2.0**e) > 32767:
        e += 1
    return e


def quantize_layer(
    w: np.ndarray,
    u: np.ndarray,
    biases: dict[str, np.ndarray],
    row_bias: Callable[[dict[str, np.ndarray]], np.ndarray],
    x_exponent: int,
    x_max_abs: int,
    out_exponent: int,
    what: str,
    reverse: bool = False,
    last_only: bool = False,
) -> tuple[RecurrentParams, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Float w [rows, input], u [rows, hidden] and biases -> (params, int16 w, int16 u, int32 biases). row_bias gives
    each gate row's biases' magnitude from the biases (float or integer).

    x real = x_q * 2^x_exponent with |x_q| <= x_max_abs; the output is int8 at out_exponent (-15..0). The accumulator
    exponent ea is the finest that keeps the bound <= 2^30, within Q12..Q26 (pre_shift 0..14: finer bits lie far
    below the tables' resolution); W and U get the finest exponent that fits int16 and that the accumulator can hold
    with a left shift.
    """
    w, u = np.asarray(w, dtype=np.float64), np.asarray(u, dtype=np.float64)
    out_shift = out_exponent + STATE_FRAC_BITS
    if not 0 <= out_shift <= MAX_OUT_SHIFT:
        raise KernelRangeError(f"{what} output exponent {out_exponent} outside -15..0 (its state is within (-1, 1))")
    x_max = x_max_abs * 2.0**x_exponent
    real_bound = float((np.abs(w).sum(1) * x_max + np.abs(u).sum(1) + row_bias(biases)).max())
    ea = min(math.ceil(math.log2(max(real_bound, 2.0**-40))) - 30, -INPUT_FRAC_BITS)
    ea = max(ea, -INPUT_FRAC_BITS - MAX_PRE_SHIFT)
    while True:
        if ea > -INPUT_FRAC_BITS:
            raise KernelRangeError(
                f"{what} pre-activations up to {real_bound:.3g} need an accumulator coarser than Q12"
            )
        ew = max(fit_weight_exponent(float(np.abs(w).max())), ea - x_exponent)
        eu = max(fit_weight_exponent(float(np.abs(u).max())), ea + STATE_FRAC_BITS)
        params = RecurrentParams(
            wx_shift=ew + x_exponent - ea,
            uh_shift=eu - STATE_FRAC_BITS - ea,
            pre_shift=-INPUT_FRAC_BITS - ea,
            out_shift=out_shift,
            reverse=int(reverse),
            last_only=int(last_only),
        )
        w_q, u_q = np.round(w / 2.0**ew).astype(np.int16), np.round(u / 2.0**eu).astype(np.int16)
        biases_q = {name: np.round(b / 2.0**ea).astype(np.int32) for name, b in biases.items()}
        if accumulator_bound(params, w_q, u_q, row_bias(biases_q), x_max_abs) <= ACC_LIMIT:
            return params, w_q, u_q, biases_q
        ea += 1  # rounding pushed the integer bound over: one bit coarser
