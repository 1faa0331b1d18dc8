"""Bit-exact twin of gru_s8 (a GRU layer over int8 frames, PyTorch's gate equations), the accumulator bound the C
relies on, and a quantiser that turns torch.nn.GRU's weights into the kernel's integers.

Per step, unit i (hidden state h in Q15, |h| < 1 since a GRU's state is a convex mix of tanh values from zero):
  a_r = (W_r x) << wx_shift + (U_r h) << uh_shift + bias_r         r = sigmoid_q15(round_shift(a_r, pre_shift))
  a_z = (W_z x) << wx_shift + (U_z h) << uh_shift + bias_z         z = sigmoid_q15(round_shift(a_z, pre_shift))
  a_x = (W_n x) << wx_shift + bias_n,  a_h = (U_n h) << uh_shift + bias_hn
  n   = tanh_q15(round_shift(a_x + round_shift(r * a_h, 15), pre_shift))    (r * a_h in 64 bits)
  h'  = round_shift(z * h + (32768 - z) * n, 15)                              (|h'| <= 32767: no saturation)
  out = clamp(round_shift(h', out_shift), act_min, act_max)
"""

from __future__ import annotations

import numpy as np

from hil.kernels_ref.fastgrnn import ACC_LIMIT
from hil.kernels_ref.fixed import KernelRangeError, check_int32, round_shift
from hil.kernels_ref.nonlinear import OUTPUT_ONE, sigmoid_q15, tanh_q15
from hil.kernels_ref.params import GRUWeights, RecurrentParams
from hil.kernels_ref.recurrent import accumulator_bound, check_layer, quantize_layer, run_frames

GATES = 3  # reset, update, new: the rows of weight_ih and weight_hh in that order


def gru_step(params: RecurrentParams, weights: GRUWeights, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One step, batched over leading axes: x [..., input] (int8 values) and h [..., hidden] Q15 -> h' Q15."""
    n_h = weights.hidden_size
    x64, h64 = np.asarray(x, dtype=np.int64), np.asarray(h, dtype=np.int64)
    wx = (x64 @ weights.w.astype(np.int64).T) << params.wx_shift
    uh = (h64 @ weights.u.astype(np.int64).T) << params.uh_shift
    bias = weights.bias.astype(np.int64)
    a_r = wx[..., :n_h] + uh[..., :n_h] + bias[:n_h]
    a_z = wx[..., n_h : 2 * n_h] + uh[..., n_h : 2 * n_h] + bias[n_h : 2 * n_h]
    a_x = wx[..., 2 * n_h :] + bias[2 * n_h :]
    a_h = uh[..., 2 * n_h :] + weights.bias_hn.astype(np.int64)
    for name, a in (("reset", a_r), ("update", a_z), ("new input", a_x), ("new hidden", a_h)):
        check_int32(a, f"GRU {name} pre-activation", ACC_LIMIT + 1)
    r = sigmoid_q15(round_shift(a_r, params.pre_shift))
    z = sigmoid_q15(round_shift(a_z, params.pre_shift))
    n = tanh_q15(round_shift(a_x + round_shift(r * a_h, 15), params.pre_shift))
    return round_shift(z * h64 + (OUTPUT_ONE - z) * n, 15)


def gru_s8(params: RecurrentParams, weights: GRUWeights, x: np.ndarray) -> np.ndarray:
    """The layer over x [batch, steps, input] int8 from a zero state: [batch, steps, hidden] int8 (every step's
    output at its own frame, also when reverse), or [batch, 1, hidden] with last_only (the final state)."""

    def step(p: RecurrentParams, w: GRUWeights, frame: np.ndarray, state: tuple) -> tuple[np.ndarray, tuple]:
        h = gru_step(p, w, frame, state[0])
        return h, (h,)

    zero = (np.zeros((np.shape(x)[0], weights.hidden_size), dtype=np.int64),)
    return run_frames(params, weights, x, step, zero, "GRU")


def gru_buffer_size(weights: GRUWeights) -> int:
    """gru_s8_get_buffer_size: the scratch bytes of ctx: 3 * hidden int32 accumulators, then two hidden states and
    the widened input frame int16, rounded up to 4 bytes."""
    n_h, n_in = weights.hidden_size, weights.input_size
    return 12 * n_h + (2 * (2 * n_h + n_in) + 3) // 4 * 4


def _row_bias(biases: dict[str, np.ndarray]) -> np.ndarray:
    """Each gate row's biases' magnitude: bias, and bias_hn on the new gate's rows."""
    rows = np.abs(biases["bias"]).astype(np.float64)
    rows[2 * len(biases["bias_hn"]) :] += np.abs(biases["bias_hn"])
    return rows


def gru_accumulator_bound(params: RecurrentParams, weights: GRUWeights, x_max_abs: int) -> int:
    """max over gate rows of (sum|w| * x_max_abs) << wx_shift + (sum|u| * 32768) << uh_shift + |bias| (+ |bias_hn|
    on the new gate's rows): the C is exact when this is <= 2^30."""
    row_bias = _row_bias({"bias": weights.bias.astype(np.int64), "bias_hn": weights.bias_hn.astype(np.int64)})
    return accumulator_bound(params, weights.w, weights.u, row_bias.astype(np.int64), x_max_abs)


def check_gru(params: RecurrentParams, weights: GRUWeights, x_max_abs: int) -> None:
    """Raises KernelRangeError unless the weights and shifts satisfy the C kernel's preconditions."""
    if weights.bias_hn.shape != (weights.hidden_size,):
        raise KernelRangeError(f"GRU bias_hn of shape {weights.bias_hn.shape}: expected ({weights.hidden_size},)")
    check_layer(params, weights, GATES, lambda: gru_accumulator_bound(params, weights, x_max_abs), "GRU")


def quantize_gru(
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray | None,
    bias_hh: np.ndarray | None,
    x_exponent: int,
    x_max_abs: int,
    out_exponent: int,
    reverse: bool = False,
    last_only: bool = False,
) -> tuple[RecurrentParams, GRUWeights]:
    """torch.nn.GRU's weight_ih [3H, K], weight_hh [3H, H] and biases -> the kernel's params and weights
    (recurrent.quantize_layer); the reset and update gates' two biases add, the new gate's b_hn stays apart."""
    n_h = np.shape(weight_hh)[1]
    b_ih = np.zeros(GATES * n_h) if bias_ih is None else np.asarray(bias_ih, dtype=np.float64).ravel()
    b_hh = np.zeros(GATES * n_h) if bias_hh is None else np.asarray(bias_hh, dtype=np.float64).ravel()
    biases = {"bias": np.concatenate([b_ih[: 2 * n_h] + b_hh[: 2 * n_h], b_ih[2 * n_h :]]), "bias_hn": b_hh[2 * n_h :]}
    args = (x_exponent, x_max_abs, out_exponent, "GRU", reverse, last_only)
    params, w, u, q = quantize_layer(weight_ih, weight_hh, biases, _row_bias, *args)
    return params, GRUWeights(w, u, q["bias"], q["bias_hn"])
