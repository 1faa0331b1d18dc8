"""Parameter records of the integer kernels: one dataclass per C params struct, same field names and meaning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConvParams:
    """hil_conv_params: strides, zero padding (top/left) and activation clamp. The rounding right shifts, one per
    output channel, are the kernels' separate out_shift argument."""

    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class AddParams:
    """hil_add_params: out = clamp(round_shift((a << a_shift) + (b << b_shift), out_shift))."""

    a_shift: int
    b_shift: int
    out_shift: int
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class L2NormParams:
    """hil_l2norm_params: out_shift = output exponent - gamma exponent."""

    out_shift: int
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class FastGRNNParams:
    """hil_fastgrnn_params: the shifts and constants of one fixed-point FastGRNN cell."""

    wx_shift: int
    uh_shift: int
    pre_shift: int
    h_frac_bits: int
    zeta_q15: int
    nu_q15: int


@dataclass(frozen=True)
class FastGRNNWeights:
    """hil_fastgrnn_weights: w [hidden, input] and u [hidden, hidden] int16 (EdgeML's W and U transposed),
    bias_gate and bias_update int32 at the pre-activation accumulator's exponent."""

    w: np.ndarray
    u: np.ndarray
    bias_gate: np.ndarray
    bias_update: np.ndarray

    @property
    def input_size(self) -> int:
        return int(self.w.shape[1])

    @property
    def hidden_size(self) -> int:
        return int(self.w.shape[0])


@dataclass(frozen=True)
class RNNPoolParams:
    """hil_rnnpool_params: patch size, the two cells' parameters and the int8 output requantisation."""

    patch_h: int
    patch_w: int
    rnn1: FastGRNNParams
    rnn2: FastGRNNParams
    out_shift: int = 0
    act_min: int = -128
    act_max: int = 127
