"""Bit-exact twin of lstm_s8 (an LSTM layer over int8 frames, PyTorch's gate equations), the accumulator bound the C
relies on, and a quantiser that turns torch.nn.LSTM's weights into the kernel's integers.

Per step, unit i (hidden state h in Q15, |h| < 1 as o * tanh(c); cell state c in Q15 int32, |c| <= steps):
  a_k = (W_k x) << wx_shift + (U_k h) << uh_shift + bias_k   for the gates k = i, f, g, o (PyTorch's order)
  i, f, o = sigmoid_q15(round_shift(a_k, pre_shift)),   g = tanh_q15(round_shift(a_g, pre_shift))
  c'  = round_shift(f * c + i * g, 15)                          (64-bit sum)
  h'  = round_shift(o * tanh_q15(round_shift(c', 3)), 15)       (c' read in Q12; |h'| <= 32767)
  out = clamp(round_shift(h', out_shift), act_min, act_max)
"""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.fastgrnn import ACC_LIMIT
from hil.kernels_ref.fixed import check_int32, round_shift
from hil.kernels_ref.nonlinear import INPUT_FRAC_BITS, sigmoid_q15, tanh_q15
from hil.kernels_ref.params import LSTMWeights, RecurrentParams
from hil.kernels_ref.recurrent import (
    STATE_FRAC_BITS,
    accumulator_bound,
    check_layer,
    quantize_layer,
    run_frames,
)

GATES = 4  # input, forget, cell, output: the rows of weight_ih and weight_hh in that order
CELL_TO_Q12 = STATE_FRAC_BITS - INPUT_FRAC_BITS  # the cell state's Q15 read by tanh's Q12 table


def lstm_step(
    params: RecurrentParams, weights: LSTMWeights, x: np.ndarray, h: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One step, batched over leading axes: x [..., input] (int8 values), h [..., hidden] Q15 and c [..., hidden] Q15
    -> (h', c')."""
    n_h = weights.hidden_size
    x64, h64, c64 = (np.asarray(v, dtype=np.int64) for v in (x, h, c))
    wx = (x64 @ weights.w.astype(np.int64).T) << params.wx_shift
    uh = (h64 @ weights.u.astype(np.int64).T) << params.uh_shift
    a = wx + uh + weights.bias.astype(np.int64)
    check_int32(a, "LSTM gate pre-activation", ACC_LIMIT + 1)
    gates = round_shift(a, params.pre_shift)
    i, f = sigmoid_q15(gates[..., :n_h]), sigmoid_q15(gates[..., n_h : 2 * n_h])
    g, o = tanh_q15(gates[..., 2 * n_h : 3 * n_h]), sigmoid_q15(gates[..., 3 * n_h :])
    c_next = round_shift(f * c64 + i * g, 15)
    check_int32(c_next, "LSTM cell state")
    return round_shift(o * tanh_q15(round_shift(c_next, CELL_TO_Q12)), 15), c_next


def lstm_s8(params: RecurrentParams, weights: LSTMWeights, x: np.ndarray) -> np.ndarray:
    """The layer over x [batch, steps, input] int8 from zero states: [batch, steps, hidden] int8 (every step's
    output at its own frame, also when reverse), or [batch, 1, hidden] with last_only (the final state)."""

    def step(p: RecurrentParams, w: LSTMWeights, frame: np.ndarray, state: tuple) -> tuple[np.ndarray, tuple]:
        h, c = lstm_step(p, w, frame, *state)
        return h, (h, c)

    zeros = np.zeros((np.shape(x)[0], weights.hidden_size), dtype=np.int64)
    return run_frames(params, weights, x, step, (zeros, zeros), "LSTM")


def lstm_buffer_size(weights: LSTMWeights) -> int:
    """lstm_s8_get_buffer_size: the scratch bytes of ctx: 4 * hidden int32 accumulators and hidden int32 cell
    states, then two hidden states and the widened input frame int16, rounded up to 4 bytes."""
    n_h, n_in = weights.hidden_size, weights.input_size
    return 20 * n_h + (2 * (2 * n_h + n_in) + 3) // 4 * 4


def lstm_accumulator_bound(params: RecurrentParams, weights: LSTMWeights, x_max_abs: int) -> int:
    """max over gate rows of (sum|w| * x_max_abs) << wx_shift + (sum|u| * 32768) << uh_shift + |bias|: the C is
    exact when this is <= 2^30."""
    return accumulator_bound(params, weights.w, weights.u, np.abs(weights.bias.astype(np.int64)), x_max_abs)


def check_lstm(params: RecurrentParams, weights: LSTMWeights, x_max_abs: int) -> None:
    """Raises KernelRangeError unless the weights and shifts satisfy the C kernel's preconditions."""
    check_layer(params, weights, GATES, lambda: lstm_accumulator_bound(params, weights, x_max_abs), "LSTM")


def quantize_lstm(
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray | None,
    bias_hh: np.ndarray | None,
    x_exponent: int,
    x_max_abs: int,
    out_exponent: int,
    reverse: bool = False,
    last_only: bool = False,
) -> tuple[RecurrentParams, LSTMWeights]:
    """torch.nn.LSTM's weight_ih [4H, K], weight_hh [4H, H] and biases -> the kernel's params and weights
    (recurrent.quantize_layer); the two biases add."""
    rows = np.shape(weight_ih)[0]
    bias = sum(np.zeros(rows) if b is None else np.asarray(b, dtype=np.float64).ravel() for b in (bias_ih, bias_hh))
    args = (x_exponent, x_max_abs, out_exponent, "LSTM", reverse, last_only)
    params, w, u, q = quantize_layer(weight_ih, weight_hh, {"bias": bias}, lambda b: np.abs(b["bias"]), *args)
    return params, LSTMWeights(w, u, q["bias"])
