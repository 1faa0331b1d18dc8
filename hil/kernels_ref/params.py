"""Parameter records of the integer kernels: one dataclass per C params struct, same field names and meaning.

Each record is declared once here, with @c_struct naming its C typedef: every int field is an int32_t, a field
typed with another record is that struct nested. From the declaration come the C initialiser the compiler emits
(c_initializer), the ctypes structure of the host binding (hil.host_build.kernels.ctypes_struct), and
tests/kernels/test_params_decl.py checks firmware/kernels/hil_kernels.h declares the same struct (c_declaration).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

import numpy as np

C_STRUCTS: dict[type, str] = {}  # record type -> its C typedef name


def c_struct(name: str):
    """Registers a params dataclass as the declaration of the C struct `name`."""

    def register(cls: type) -> type:
        C_STRUCTS[cls] = name
        return cls

    return register


def c_fields(record_type: type) -> list[tuple[str, type]]:
    """(name, int or a nested record type) of each field, in C order."""
    hints = typing.get_type_hints(record_type)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(record_type)]


def c_initializer(record: object) -> str:
    """The C braced initialiser of a record, e.g. {1, 1, 0, 0, -128, 127}."""
    values = [getattr(record, name) for name, _ in c_fields(type(record))]
    return "{" + ", ".join(c_initializer(v) if dataclasses.is_dataclass(v) else str(int(v)) for v in values) + "}"


def c_declaration(record_type: type) -> list[tuple[str, str]]:
    """(C type, field name) of each field, as the header must declare them."""
    return [(C_STRUCTS[t] if t in C_STRUCTS else "int32_t", name) for name, t in c_fields(record_type)]


@c_struct("hil_conv_params")
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
    pad_value: int = 0  # what a padded tap reads (nonzero only for conv2d_s8_w16: minus the input's offset)


@c_struct("hil_add_params")
@dataclass(frozen=True)
class AddParams:
    """hil_add_params: out = clamp(round_shift((a << a_shift) + (b << b_shift), out_shift))."""

    a_shift: int
    b_shift: int
    out_shift: int
    act_min: int = -128
    act_max: int = 127


@c_struct("hil_add_a16_params")
@dataclass(frozen=True)
class AddA16Params:
    """hil_add_a16_params: add_s8's shifts and clamp (in the output's range), and each side's width (8 or 16)."""

    a_shift: int
    b_shift: int
    out_shift: int
    act_min: int = -128
    act_max: int = 127
    a_bits: int = 8
    b_bits: int = 8
    out_bits: int = 8


def add_a16_params(params: AddParams | AddA16Params) -> AddA16Params:
    """add_s8's params as add_a16's at int8 widths (add_a16's own unchanged): the one kernel both computations share."""
    return params if isinstance(params, AddA16Params) else AddA16Params(*dataclasses.astuple(params))


@c_struct("hil_l2norm_params")
@dataclass(frozen=True)
class L2NormParams:
    """hil_l2norm_params: out_shift = output exponent - gamma exponent."""

    out_shift: int
    act_min: int = -128
    act_max: int = 127


@c_struct("hil_layer_norm_params")
@dataclass(frozen=True)
class LayerNormParams:
    """hil_layer_norm_params: out_shift = output exponent - gamma exponent (-8..29), eps in units of ss (>= 0)."""

    out_shift: int
    eps: int = 0
    act_min: int = -128
    act_max: int = 127


@c_struct("hil_fastgrnn_params")
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


@c_struct("hil_recurrent_params")
@dataclass(frozen=True)
class RecurrentParams:
    """hil_recurrent_params: the shifts of one fixed-point GRU or LSTM layer (PyTorch's gate equations, hidden state
    Q15) and its int8 output's requantisation: out = clamp(round_shift(h, out_shift)), the output's exponent
    out_shift - 15."""

    wx_shift: int
    uh_shift: int
    pre_shift: int
    out_shift: int
    reverse: int = 0  # 1: the steps run from the last frame to the first (a bidirectional layer's backward half)
    last_only: int = 0  # 1: only the final state is written (one frame), not every step's
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class RecurrentWeights:
    """What hil_gru_weights and hil_lstm_weights share: w [gates * hidden, input] and u [gates * hidden, hidden] int16
    in PyTorch's gate order, bias [gates * hidden] int32 at the pre-activation accumulator's exponent; each record's
    arrays in its C struct's order after the sizes."""

    w: np.ndarray
    u: np.ndarray
    bias: np.ndarray

    @property
    def input_size(self) -> int:
        return int(self.w.shape[1])

    @property
    def hidden_size(self) -> int:
        return int(self.u.shape[1])


@dataclass(frozen=True)
class LSTMWeights(RecurrentWeights):
    """hil_lstm_weights: 4 gates (input, forget, cell, output); bias is b_ih + b_hh."""


@dataclass(frozen=True)
class GRUWeights(RecurrentWeights):
    """hil_gru_weights: 3 gates (reset, update, new); bias is b_ih + b_hh for reset and update and b_in for new, and
    bias_hn [hidden] int32 is b_hn, which the reset gate scales."""

    bias_hn: np.ndarray


@c_struct("hil_rnnpool_params")
@dataclass(frozen=True)
class RNNPoolParams:
    """hil_rnnpool_params: patch size, the two cells' parameters and the output requantisation (int8, or int16 for
    rnnpool_layer_s8 with out_bits 16)."""

    patch_h: int
    patch_w: int
    rnn1: FastGRNNParams
    rnn2: FastGRNNParams
    out_shift: int = 0
    act_min: int = -128
    act_max: int = 127
    out_bits: int = 8


@c_struct("hil_grouped_conv_params")
@dataclass(frozen=True)
class GroupedConvParams:
    """hil_grouped_conv_params: a convolution with groups and dilation (grouped_conv2d_s8); out_shift is separate."""

    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    dilation_h: int = 1
    dilation_w: int = 1
    groups: int = 1
    act_min: int = -128
    act_max: int = 127


@c_struct("hil_fc_params")
@dataclass(frozen=True)
class FullyConnectedParams:
    """hil_fc_params: the clamp of fully_connected_s8; the per-output shift is separate, as the convolutions'."""

    act_min: int = -128
    act_max: int = 127


@c_struct("hil_fc_a16_params")
@dataclass(frozen=True)
class FullyConnectedA16Params:
    """hil_fc_a16_params: fully_connected_a16's clamp (in the output's range) and the input's and output's widths
    (8 or 16 bits)."""

    act_min: int = -128
    act_max: int = 127
    in_bits: int = 8
    out_bits: int = 8


@c_struct("hil_conv_a16_params")
@dataclass(frozen=True)
class ConvA16Params:
    """hil_conv_a16_params: conv2d_a16's strides, padding, clamp (in the output's range) and the input's and
    output's widths (8 or 16 bits)."""

    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    act_min: int = -128
    act_max: int = 127
    in_bits: int = 8
    out_bits: int = 8


@c_struct("hil_pool_params")
@dataclass(frozen=True)
class PoolParams:
    """hil_pool_params: max pooling window, stride and padding (padded taps are ignored, as PyTorch's -inf)."""

    kernel_h: int
    kernel_w: int
    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    act_min: int = -128
    act_max: int = 127


@c_struct("hil_prelu_params")
@dataclass(frozen=True)
class PReluParams:
    """hil_prelu_params: out = clamp(round_shift(in >= 0 ? in << pos_shift : in * slope[c], out_shift)), both sides
    on the slopes' grid so that one rounding serves both."""

    pos_shift: int
    out_shift: int
    act_min: int = -128
    act_max: int = 127


@c_struct("hil_scale_channels_params")
@dataclass(frozen=True)
class ScaleChannelsParams:
    """hil_scale_channels_params, the params of both kernels of a map times a runtime int8 gate: scale_channels_s8
    (one value per channel, the squeeze-and-excitation gate: out[p, c] = clamp(round_shift(in[p, c] * scale[c],
    out_shift), act_min, act_max)) and scale_pixels_s8 (one value per pixel, CBAM's spatial attention: scale[p] in
    place of scale[c]); out_shift = e_out - e_in - e_scale in 0..31."""

    out_shift: int
    act_min: int = -128
    act_max: int = 127


@c_struct("hil_resize_bilinear_params")
@dataclass(frozen=True)
class ResizeBilinearParams:
    """hil_resize_bilinear_params: F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=...) on an
    NHWC int8 map, input and output at one exponent, integer weights and one rounding. Per axis (in, out its sizes,
    d the output index): align_corners 0 (half-pixel centres) num = max(0, (2 d + 1) in - out), den = 2 out;
    align_corners 1 num = d (in - 1), den = out - 1 (num = 0, den = 1 when out == 1). i0 = num // den,
    frac = num % den, i1 = min(i0 + 1, in - 1); weight den - frac on i0, frac on i1. acc = sum of the 4 taps of
    wy * wx * x, D = den_y * den_x, out = clamp((acc >= 0 ? acc + D / 2 : acc - D / 2) / D) (C's truncating
    division: halves away from zero). Sizes 1..1024, so |acc| <= 128 * 2048^2 = 2^29 fits int32."""

    align_corners: int


@c_struct("hil_avgpool_params")
@dataclass(frozen=True)
class AvgPoolParams:
    """hil_avgpool_params: out = clamp(round_shift(sum of the window (padded taps 0) * multiplier, shift)), the
    division by the window size and the change of exponent in one multiplier."""

    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    pad_h: int
    pad_w: int
    multiplier: int
    shift: int
    act_min: int = -128
    act_max: int = 127


@c_struct("hil_softmax_params")
@dataclass(frozen=True)
class SoftmaxParams:
    """hil_softmax_params: the output is Q(out_frac_bits) int8 (probabilities; 1.0 saturates to 127)."""

    out_frac_bits: int = 7
    act_min: int = -128
    act_max: int = 127


@c_struct("hil_log_softmax_params")
@dataclass(frozen=True)
class LogSoftmaxParams:
    """hil_log_softmax_params: F.log_softmax over the last axis, input at exponent e_in, output at e_in + out_shift.
    Per row (m = max_c x_c; exp_table and log_table from layers.log_softmax_tables(e_in)):
    S = sum_c exp_table[m - x_c] (Q16, >= 65536); k = floor(log2 S) - 16; f16 = (S >> k) - 65536 (S / 2^(k+16) - 1
    in Q16, truncated), i = f16 >> 8, j = f16 & 255;
    L = k * ln2_steps + log_table[i] + ((log_table[i+1] - log_table[i]) * j >> 8)   (ln(S / 2^16) / 2^e_in in Q16);
    out_c = clamp(round_shift((x_c - m) * 2^16 - L, 16 + out_shift), act_min, act_max).
    ln2_steps = round(2^16 * ln 2 / 2^e_in); out_shift 0..15."""

    ln2_steps: int
    out_shift: int
    act_min: int = -128
    act_max: int = 127
