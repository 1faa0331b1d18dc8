"""Kernel calls as a firmware "model": a generated model.c that runs kernels on arena data, with the outputs the
numpy twins expect, so the board's build (DSP path) can be checked bit for bit and timed under QEMU."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hil.kernels_ref.conv import conv2d_s8, depthwise_conv2d_s8, pointwise_conv2d_s8
from hil.kernels_ref.conv_a16 import (
    conv2d_a16,
    conv2d_a16_w16,
    conv_a16_device_filter,
    conv_a16_w16_device_filter,
    depthwise_conv2d_a16,
)
from hil.kernels_ref.conv_w16 import conv2d_s8_w16
from hil.kernels_ref.eltwise import add_a16, add_s8, l2norm_s8, layer_norm_s8
from hil.kernels_ref.fastgrnn import quantize_fastgrnn
from hil.kernels_ref.fc_a16 import fully_connected_a16
from hil.kernels_ref.gru import check_gru, gru_buffer_size, gru_s8, quantize_gru
from hil.kernels_ref.layers import (
    avgpool_s8,
    fully_connected_s8,
    grouped_conv2d_s8,
    log_softmax_s8,
    log_softmax_tables,
    lut_s8,
    maxpool_s8,
    prelu_s8,
    resize_bilinear_s8,
    scale_channels_s8,
    scale_pixels_s8,
    softmax_s8,
)
from hil.kernels_ref.lstm import check_lstm, lstm_buffer_size, lstm_s8, quantize_lstm
from hil.kernels_ref.params import (
    AddA16Params,
    AddParams,
    AvgPoolParams,
    ConvA16Params,
    ConvParams,
    FastGRNNWeights,
    FullyConnectedA16Params,
    FullyConnectedParams,
    GroupedConvParams,
    GRUWeights,
    L2NormParams,
    LayerNormParams,
    LogSoftmaxParams,
    LSTMWeights,
    PoolParams,
    PReluParams,
    ResizeBilinearParams,
    RNNPoolParams,
    ScaleChannelsParams,
    SoftmaxParams,
    c_initializer,
)
from hil.kernels_ref.rnnpool import rnnpool_get_buffer_size, rnnpool_layer_s8
from hil.kernels_ref.rnnpool_offset import rnnpool_offset_layer_s8
from hil.model_sources import ModelSources, TensorSpec

C_TYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int16): "int16_t", np.dtype(np.int32): "int32_t"}
ALIGN = 16


@dataclass
class KernelCase:
    """One kernel call: its arena inputs, the output the twin computes, constant arrays and the C call.

    In `call`, {in0}, {in1}, ... {out} and {scratch} stand for arena pointers; {p} prefixes constant names.
    """

    name: str
    inputs: list[np.ndarray]
    expected: np.ndarray
    consts: dict[str, np.ndarray]
    call: str
    macs: int
    scratch_bytes: int = 0
    structs: list[str] = field(default_factory=list)


def _shifts(rng: np.random.Generator, low: int, high: int, channels: int) -> np.ndarray:
    """Per-channel output shifts in low..high-1, unequal so every channel's own shift must be the one applied."""
    return rng.integers(low, high, channels).astype(np.int8)


def _dims(shape: tuple[int, ...]) -> str:
    return "{" + ", ".join(str(d) for d in (1,) * (4 - len(shape)) + tuple(shape)) + "}"


def pointwise_case(rng: np.random.Generator, h: int, w: int, cin: int, cout: int) -> KernelCase:
    x = rng.integers(-128, 128, (1, h, w, cin), dtype=np.int8)
    f = rng.integers(-128, 128, (cout, 1, 1, cin), dtype=np.int8)
    b = rng.integers(-5000, 5000, cout, dtype=np.int32)
    s = _shifts(rng, 9, 14, cout)
    params = ConvParams(act_min=0, act_max=96)
    call = (
        f"{{ static const hil_conv_params pr = {c_initializer(params)}; static const hil_dims di = {_dims(x.shape)},"
        f" df = {_dims(f.shape)}, do_ = {_dims((1, h, w, cout))};\n"
        "      st = pointwise_conv2d_s8(&pr, {p}s, &di, {in0}, &df, {p}f, {p}b, &do_, {out}); }"
    )
    return KernelCase(
        f"pointwise {h}x{w}x{cin}->{cout}",
        [x],
        pointwise_conv2d_s8(params, s, x, f, b),
        {"f": f, "b": b, "s": s},
        call,
        h * w * cin * cout,
    )


def depthwise_case(rng: np.random.Generator, h: int, w: int, c: int, stride: int) -> KernelCase:
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    f = rng.integers(-128, 128, (1, 3, 3, c), dtype=np.int8)
    b = rng.integers(-5000, 5000, c, dtype=np.int32)
    s = _shifts(rng, 7, 12, c)
    params = ConvParams(stride, stride, 1, 1, 0, 96)
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    call = (
        f"{{ static const hil_conv_params pr = {c_initializer(params)}; static const hil_dims di = {_dims(x.shape)},"
        f" df = {_dims(f.shape)}, do_ = {_dims((1, oh, ow, c))};\n"
        "      st = depthwise_conv2d_s8(&pr, {p}s, &di, {in0}, &df, {p}f, {p}b, &do_, {out}); }"
    )
    return KernelCase(
        f"depthwise 3x3 s{stride} {h}x{w}x{c}",
        [x],
        depthwise_conv2d_s8(params, s, x, f, b, (oh, ow)),
        {"f": f, "b": b, "s": s},
        call,
        oh * ow * c * 9,
    )


def conv_case(
    rng: np.random.Generator, h: int, w: int, cin: int, cout: int, stride: int, wide: bool = False
) -> KernelCase:
    """A 3x3 zero-padded convolution: conv2d_s8, or with wide (int16) weights conv2d_s8_w16."""
    x = rng.integers(-128, 128, (1, h, w, cin), dtype=np.int8)
    f = rng.integers(-128, 128, (cout, 3, 3, cin), dtype=np.int8)
    b = rng.integers(-5000, 5000, cout, dtype=np.int32)
    s = _shifts(rng, 7, 12, cout)
    kernel, twin = "conv2d_s8", conv2d_s8
    if wide:
        f = (f.astype(np.int16) << 8) | rng.integers(0, 256, f.shape, dtype=np.int16)
        s, kernel, twin = s + 8, "conv2d_s8_w16", conv2d_s8_w16
    params = ConvParams(stride, stride, 1, 1, -128, 127)
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    call = (
        f"{{ static const hil_conv_params pr = {c_initializer(params)}; static const hil_dims di = {_dims(x.shape)},"
        f" df = {_dims(f.shape)}, do_ = {_dims((1, oh, ow, cout))};\n"
        f"      st = {kernel}(&pr, {{p}}s, &di, {{in0}}, &df, {{p}}f, {{p}}b, &do_, {{out}}); }}"
    )
    return KernelCase(
        f"{'conv_w16' if wide else 'conv'} 3x3 s{stride} {h}x{w}x{cin}->{cout}",
        [x],
        twin(params, s, x, f, b, (oh, ow)),
        {"f": f, "b": b, "s": s},
        call,
        oh * ow * cout * 9 * cin,
    )


def conv_w16_case(
    rng: np.random.Generator,
    h: int,
    w: int,
    cin: int,
    cout: int,
    stride: int,
    k: int = 3,
    pad_value: int = -11,
    bias: bool = True,
) -> KernelCase:
    """A kxk conv2d_s8_w16 (k odd, padding k // 2) over cin channels, padded with pad_value (a centred input's
    offset, as a compiled RGB stem pads): weights over all of int16 with channel 0's at +-32767, the first pixel row
    at -128 / 127 (the extreme products at every tap of the first output row); shifts and biases scaled to the
    fan-in, so that most outputs fall inside the clamp."""
    x = rng.integers(-128, 128, (1, h, w, cin), dtype=np.int8)
    x[0, 0] = np.where(np.arange(w * cin).reshape(w, cin) % 2 == 0, -128, 127)
    f = rng.integers(-32768, 32768, (cout, k, k, cin), dtype=np.int16)
    f[0] = np.where(rng.integers(0, 2, f[0].shape) == 0, -32767, 32767)
    spread = (k * k * cin).bit_length() // 2  # sums grow as sqrt(fan-in): shifts and biases follow, few clamps
    b = rng.integers(-(2 ** (20 + spread)), 2 ** (20 + spread), cout, dtype=np.int32) if bias else None
    s = _shifts(rng, 15 + spread, 19 + spread, cout)
    params = ConvParams(stride, stride, k // 2, k // 2, -128, 127, pad_value)
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    call = (
        f"{{ static const hil_conv_params pr = {c_initializer(params)}; static const hil_dims di = {_dims(x.shape)},"
        f" df = {_dims(f.shape)}, do_ = {_dims((1, oh, ow, cout))};\n"
        f"      st = conv2d_s8_w16(&pr, {{p}}s, &di, {{in0}}, &df, {{p}}f, {'{p}b' if bias else 'NULL'}, &do_, "
        "{out}); }"
    )
    return KernelCase(
        f"conv_w16 {k}x{k} s{stride} {h}x{w}x{cin}->{cout} pad {pad_value}" + ("" if bias else " no bias"),
        [x],
        conv2d_s8_w16(params, s, x, f, b, (oh, ow)),
        {"f": f, "s": s} if b is None else {"f": f, "b": b, "s": s},
        call,
        oh * ow * cout * k * k * cin,
    )


def add_case(rng: np.random.Generator, h: int, w: int, c: int) -> KernelCase:
    a = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    b = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    params = AddParams(2, 0, 1)
    call = (
        f"{{ static const hil_add_params pr = {{2, 0, 1, -128, 127}}; static const hil_dims d = {_dims(a.shape)};\n"
        "      st = add_s8(&pr, &d, {in0}, {in1}, {out}); }"
    )
    return KernelCase(f"add {h}x{w}x{c}", [a, b], add_s8(params, a, b), {}, call, a.size)


def l2norm_case(rng: np.random.Generator, h: int, w: int, c: int) -> KernelCase:
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    g = np.full(c, 20480, dtype=np.int16)
    params = L2NormParams(8)
    call = (
        f"{{ static const hil_l2norm_params pr = {{8, -128, 127}}; static const hil_dims d = {_dims(x.shape)};\n"
        "      st = l2norm_s8(&pr, &d, {in0}, {p}g, {out}); }"
    )
    return KernelCase(f"l2norm {h}x{w}x{c}", [x], l2norm_s8(params, x, g), {"g": g}, call, x.size)


def layer_norm_case(rng: np.random.Generator, h: int, w: int, c: int, out_shift: int = 6, eps: int = 0) -> KernelCase:
    """LayerNorm over the c channels of an h x w map: gamma about sqrt(c) * 2^11 (w ~ 1 at exponent -11), beta up
    to 32 output steps either way, out_shift 6 by default (the output at exponent -5); the first pixel is constant
    (ss == eps: with eps 0, the beta-only path) and, with two pixels or more, the second half -128, half 127 (the
    largest spread); the clamp is inside the int8 range."""
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    x[0, 0, 0, :] = int(rng.integers(-128, 128))
    if h * w > 1:
        x.reshape(-1, c)[1] = np.where(np.arange(c) % 2 == 0, -128, 127)
    g = np.round(rng.normal(1.0, 0.3, c) * np.sqrt(c) * 2.0**11).clip(-32768, 32767).astype(np.int16)
    b = rng.integers(-(2**13), 2**13, c, dtype=np.int32)
    params = LayerNormParams(out_shift, eps, -120, 120)
    call = (
        f"{{ static const hil_layer_norm_params pr = {c_initializer(params)}; "
        f"static const hil_dims d = {_dims(x.shape)};\n"
        "      st = layer_norm_s8(&pr, &d, {in0}, {p}g, {p}b, {out}); }"
    )
    name = f"layer_norm {h}x{w}x{c} shift {out_shift} eps {eps}"
    return KernelCase(name, [x], layer_norm_s8(params, x, g, b), {"g": g, "b": b}, call, x.size)


def _grnn_weights(prefix: str, w: FastGRNNWeights) -> str:
    return f"{{{w.input_size}, {w.hidden_size}, {prefix}w, {prefix}u, {prefix}bg, {prefix}bh}}"


def rnnpool_case(
    rng: np.random.Generator,
    h: int,
    w: int,
    k: int = 4,
    h1: int = 16,
    h2: int = 16,
    patch: int = 8,
    stride: int = 4,
    offset: bool = False,
) -> KernelCase:
    """The RNNPool layer strided over an h x w x k map in one rnnpool_layer_s8 call, as a generated model runs it
    (with offset: the per-channel offsets of the face models' centred RNNPool)."""
    cells = []
    for n_in, n_h, x_exp, x_max in ((k, h1, -5, 128), (h1, h2, -14, 32768)):
        cells.append(
            quantize_fastgrnn(
                rng.normal(0, 0.5, (n_in, n_h)),
                rng.normal(0, 0.5, (n_h, n_h)),
                rng.normal(0, 0.5, n_h),
                rng.normal(0, 0.5, n_h),
                1.0,
                -2.0,
                x_exp,
                x_max,
                14,
            )
        )
    (p1, w1, _), (p2, w2, _) = cells
    params = RNNPoolParams(patch, patch, p1, p2, 9, -128, 127)
    x = rng.integers(-128, 128, (1, h, w, k), dtype=np.int8)
    consts = {
        f"{i}{n}": getattr(cw, attr)
        for i, cw in (("a", w1), ("b", w2))
        for n, attr in (("w", "w"), ("u", "u"), ("bg", "bias_gate"), ("bh", "bias_update"))
    }
    if offset:
        consts["off"] = rng.integers(-3000, 3000, 4 * h2, dtype=np.int16)
        expected = rnnpool_offset_layer_s8(params, x, stride, w1, w2, consts["off"])
    else:
        expected = rnnpool_layer_s8(params, x, stride, w1, w2)
    oh, ow = expected.shape[1:3]
    scratch = rnnpool_get_buffer_size(params, w1, w2)
    call = (
        f"{{ static const hil_rnnpool_params pr = {c_initializer(params)};\n"
        f"      static const hil_dims di = {_dims(x.shape)}, do_ = {_dims(expected.shape)};\n"
        f"      static const hil_fastgrnn_weights r1 = {_grnn_weights('{p}a', w1)}, r2 = {_grnn_weights('{p}b', w2)};"
        f"\n      const hil_context ctx = {{{{scratch}}, {scratch}}};\n"
        f"      st = rnnpool_layer_s8(&ctx, &pr, {stride}, &di, {{in0}}, &r1, &r2, {'{p}off' if offset else 'NULL'}, "
        "&do_, {out}); }"
    )
    macs_per_patch = 2 * patch * patch * (k * h1 + h1 * h1) + 4 * patch * (h1 * h2 + h2 * h2)
    return KernelCase(
        f"rnnpool {patch}x{patch} s{stride} {h}x{w}x{k}->{4 * h2}",
        [x],
        expected,
        consts,
        call,
        oh * ow * macs_per_patch,
        scratch,
    )


def gru_case(
    rng: np.random.Generator,
    steps: int,
    n_in: int,
    n_h: int,
    reverse: int = 0,
    last_only: int = 0,
    batch: int = 1,
    out_exponent: int = -7,
    u_first: bool = False,
) -> KernelCase:
    """A GRU layer (gru_s8) over batch x steps frames of n_in int8 values at exponent -5, with torch.nn.GRU's
    initialisation (every weight and bias uniform in +-1/sqrt(n_h)) quantised by quantize_gru; the first frame is
    -128 / 127 alternately (the extreme inputs). With u_first, U is stored 2^(wx_shift + 3) times coarser (truncated,
    so the accumulator bound still holds) with uh_shift = wx_shift + 3: the kernel then sums U h before W x, an order
    quantize_gru never picks (its uh_shift is 0 for weights like these). Work: steps * 3 * n_h * (n_in + n_h) MACs
    per batch."""
    bound = 1.0 / np.sqrt(n_h)
    w_ih, w_hh = rng.uniform(-bound, bound, (3 * n_h, n_in)), rng.uniform(-bound, bound, (3 * n_h, n_h))
    b_ih, b_hh = rng.uniform(-bound, bound, 3 * n_h), rng.uniform(-bound, bound, 3 * n_h)
    params, weights = quantize_gru(w_ih, w_hh, b_ih, b_hh, -5, 128, out_exponent, bool(reverse), bool(last_only))
    if u_first:
        coarser = params.wx_shift + 3 - params.uh_shift
        u = np.trunc(weights.u / 2.0**coarser).astype(np.int16)
        weights = GRUWeights(weights.w, u, weights.bias, weights.bias_hn)
        params = replace(params, uh_shift=params.uh_shift + coarser)
        check_gru(params, weights, 128)
    x = rng.integers(-128, 128, (batch, steps, n_in), dtype=np.int8)
    x[:, 0] = np.where(np.arange(n_in) % 2 == 0, -128, 127)
    expected = gru_s8(params, weights, x)
    scratch = gru_buffer_size(weights)
    call = (
        f"{{ static const hil_recurrent_params pr = {c_initializer(params)};\n"
        f"      static const hil_dims di = {_dims((batch, 1, steps, n_in))};\n"
        f"      static const hil_gru_weights gw = {{{n_in}, {n_h}, {{p}}w, {{p}}u, {{p}}b, {{p}}bhn}};\n"
        f"      const hil_context ctx = {{{{scratch}}, {scratch}}};\n"
        "      st = gru_s8(&ctx, &pr, &gw, &di, {in0}, {out}); }"
    )
    name = f"gru {batch}x{steps}x{n_in}->{n_h}" + (" reverse" if reverse else "") + (" last" if last_only else "")
    name += " u first" if u_first else ""
    consts = {"w": weights.w, "u": weights.u, "b": weights.bias, "bhn": weights.bias_hn}
    return KernelCase(name, [x], expected, consts, call, batch * steps * 3 * n_h * (n_in + n_h), scratch)


def lstm_case(
    rng: np.random.Generator,
    steps: int,
    n_in: int,
    n_h: int,
    reverse: int = 0,
    last_only: int = 0,
    batch: int = 1,
    out_exponent: int = -7,
    u_first: bool = False,
    cell_growth: bool = False,
) -> KernelCase:
    """An LSTM layer (lstm_s8) over batch x steps frames of n_in int8 values at exponent -5, with torch.nn.LSTM's
    initialisation (every weight and bias uniform in +-1/sqrt(n_h)) quantised by quantize_lstm; the first frame is
    -128 / 127 alternately (the extreme inputs). u_first as gru_case's (U h summed before W x). With cell_growth,
    the input and forget gates' biases get +8 (both gates near 1) and the cell gate's +-4 by unit, so each cell state
    moves by about 1 a step: past 1 after a few steps (the 64-bit f * c, tanh(c) at the table's end). Work:
    steps * 4 * n_h * (n_in + n_h) MACs per batch."""
    bound = 1.0 / np.sqrt(n_h)
    w_ih, w_hh = rng.uniform(-bound, bound, (4 * n_h, n_in)), rng.uniform(-bound, bound, (4 * n_h, n_h))
    b_ih, b_hh = rng.uniform(-bound, bound, 4 * n_h), rng.uniform(-bound, bound, 4 * n_h)
    if cell_growth:
        b_ih[: 2 * n_h] += 8.0
        b_ih[2 * n_h : 3 * n_h] += np.where(np.arange(n_h) % 2 == 0, 4.0, -4.0)
    params, weights = quantize_lstm(w_ih, w_hh, b_ih, b_hh, -5, 128, out_exponent, bool(reverse), bool(last_only))
    if u_first:
        coarser = params.wx_shift + 3 - params.uh_shift
        u = np.trunc(weights.u / 2.0**coarser).astype(np.int16)
        weights = LSTMWeights(weights.w, u, weights.bias)
        params = replace(params, uh_shift=params.uh_shift + coarser)
        check_lstm(params, weights, 128)
    x = rng.integers(-128, 128, (batch, steps, n_in), dtype=np.int8)
    x[:, 0] = np.where(np.arange(n_in) % 2 == 0, -128, 127)
    expected = lstm_s8(params, weights, x)
    scratch = lstm_buffer_size(weights)
    call = (
        f"{{ static const hil_recurrent_params pr = {c_initializer(params)};\n"
        f"      static const hil_dims di = {_dims((batch, 1, steps, n_in))};\n"
        f"      static const hil_lstm_weights lw = {{{n_in}, {n_h}, {{p}}w, {{p}}u, {{p}}b}};\n"
        f"      const hil_context ctx = {{{{scratch}}, {scratch}}};\n"
        "      st = lstm_s8(&ctx, &pr, &lw, &di, {in0}, {out}); }"
    )
    name = f"lstm {batch}x{steps}x{n_in}->{n_h}" + (" reverse" if reverse else "") + (" last" if last_only else "")
    name += (" u first" if u_first else "") + (" cell growth" if cell_growth else "")
    consts = {"w": weights.w, "u": weights.u, "b": weights.bias}
    return KernelCase(name, [x], expected, consts, call, batch * steps * 4 * n_h * (n_in + n_h), scratch)


def grouped_conv_case(
    rng: np.random.Generator, h: int, w: int, cin: int, cout: int, groups: int, dilation: int
) -> KernelCase:
    """A 3x3 grouped (and dilated) convolution, zero padding dilation wide."""
    x = rng.integers(-128, 128, (1, h, w, cin), dtype=np.int8)
    f = rng.integers(-128, 128, (cout, 3, 3, cin // groups), dtype=np.int8)
    b = rng.integers(-5000, 5000, cout, dtype=np.int32)
    s = _shifts(rng, 7, 12, cout)
    params = GroupedConvParams(1, 1, dilation, dilation, dilation, dilation, groups, -128, 127)
    call = (
        f"{{ static const hil_grouped_conv_params pr = {c_initializer(params)}; static const hil_dims "
        f"di = {_dims(x.shape)}, df = {_dims(f.shape)}, do_ = {_dims((1, h, w, cout))};\n"
        "      st = grouped_conv2d_s8(&pr, {p}s, &di, {in0}, &df, {p}f, {p}b, &do_, {out}); }"
    )
    return KernelCase(
        f"grouped conv 3x3 g{groups} d{dilation} {h}x{w}x{cin}->{cout}",
        [x],
        grouped_conv2d_s8(params, s, x, f, b, (h, w)),
        {"f": f, "b": b, "s": s},
        call,
        h * w * cout * 9 * (cin // groups),
    )


def fully_connected_case(rng: np.random.Generator, n: int, m: int) -> KernelCase:
    x = rng.integers(-128, 128, (1, n), dtype=np.int8)
    f = rng.integers(-128, 128, (m, n), dtype=np.int8)
    b = rng.integers(-5000, 5000, m, dtype=np.int32)
    s = _shifts(rng, 9, 14, m)
    params = FullyConnectedParams(0, 127)
    call = (
        f"{{ static const hil_fc_params pr = {c_initializer(params)}; static const hil_dims di = {_dims(x.shape)},"
        f" df = {_dims((m, 1, 1, n))}, do_ = {_dims((1, m))};\n"
        "      st = fully_connected_s8(&pr, {p}s, &di, {in0}, &df, {p}f, {p}b, &do_, {out}); }"
    )
    expected = fully_connected_s8(params, s, x, f, b)
    return KernelCase(f"fully connected {n}->{m}", [x], expected, {"f": f, "b": b, "s": s}, call, n * m)


def fully_connected_a16_case(rng: np.random.Generator, n: int, m: int, in_bits: int, out_bits: int) -> KernelCase:
    """fully_connected_a16 with the given activation widths, clamped at the output's limits."""
    x = rng.integers(-(2 ** (in_bits - 1)), 2 ** (in_bits - 1), (1, n)).astype(f"int{in_bits}")
    f = rng.integers(-128, 128, (m, n), dtype=np.int8)
    b = rng.integers(-5000, 5000, m, dtype=np.int32)
    s = _shifts(rng, 6, 14, m)
    top = 2 ** (out_bits - 1) - 1
    params = FullyConnectedA16Params(-top - 1, top, in_bits, out_bits)
    call = (
        f"{{ static const hil_fc_a16_params pr = {c_initializer(params)}; static const hil_dims di = "
        f"{_dims(x.shape)}, df = {_dims((m, 1, 1, n))}, do_ = {_dims((1, m))};\n"
        "      st = fully_connected_a16(&pr, {p}s, &di, {in0}, &df, {p}f, {p}b, &do_, {out}); }"
    )
    expected = fully_connected_a16(params, s, x, f, b)
    name = f"fully connected a16 {n}->{m} int{in_bits}->int{out_bits}"
    return KernelCase(name, [x], expected, {"f": f, "b": b, "s": s}, call, n * m)


def add_a16_case(
    rng: np.random.Generator, h: int, w: int, c: int, a_bits: int, b_bits: int, out_bits: int
) -> KernelCase:
    """add_a16 at those widths with each side shifted to its bound (30 - bits), so the extremes' terms reach 2^29 and
    their sum -2^30, clamped at the output's limits."""
    a, b = (
        rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (1, h, w, c)).astype(f"int{bits}")
        for bits in (a_bits, b_bits)
    )
    a.flat[:2], b.flat[:2] = -(2 ** (a_bits - 1)), -(2 ** (b_bits - 1))
    top = 2 ** (out_bits - 1)
    params = AddA16Params(30 - a_bits, 30 - b_bits, 31 - out_bits, -top, top - 1, a_bits, b_bits, out_bits)
    call = (
        f"{{ static const hil_add_a16_params pr = {c_initializer(params)}; static const hil_dims d = "
        f"{_dims(a.shape)};\n      st = add_a16(&pr, &d, {{in0}}, {{in1}}, {{out}}); }}"
    )
    name = f"add a16 {h}x{w}x{c} int{a_bits}+int{b_bits}->int{out_bits}"
    return KernelCase(name, [a, b], add_a16(params, a, b), {}, call, a.size)


def conv_a16_case(
    rng: np.random.Generator, h: int, w: int, cin: int, cout: int, stride: int, in_bits: int, out_bits: int
) -> KernelCase:
    """A 3x3 zero-padded conv2d_a16 with the given activation widths, clamped at the output's limits."""
    x = rng.integers(-(2 ** (in_bits - 1)), 2 ** (in_bits - 1), (1, h, w, cin)).astype(f"int{in_bits}")
    f = rng.integers(-128, 128, (cout, 3, 3, cin), dtype=np.int8)
    b = rng.integers(-5000, 5000, cout, dtype=np.int32)
    s = _shifts(rng, 6, 14, cout)
    top = 2 ** (out_bits - 1) - 1
    params = ConvA16Params(stride, stride, 1, 1, -top - 1, top, in_bits, out_bits)
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    call = (
        f"{{ static const hil_conv_a16_params pr = {c_initializer(params)}; static const hil_dims di = "
        f"{_dims(x.shape)}, df = {_dims(f.shape)}, do_ = {_dims((1, oh, ow, cout))};\n"
        "      st = conv2d_a16(&pr, {p}s, &di, {in0}, &df, {p}f, {p}b, &do_, {out}); }"
    )
    expected = conv2d_a16(params, s, x, f, b, (oh, ow))
    name = f"conv a16 3x3 s{stride} {h}x{w}x{cin}->{cout} int{in_bits}->int{out_bits}"
    arrays = {"f": conv_a16_device_filter(f, in_bits), "b": b, "s": s}
    return KernelCase(name, [x], expected, arrays, call, oh * ow * cout * 9 * cin)


def conv_a16_w16_case(
    rng: np.random.Generator, h: int, w: int, cin: int, cout: int, k: int, in_bits: int, out_bits: int
) -> KernelCase:
    """A kxk (k odd, zero-padded to the input's size) conv2d_a16_w16 with the given activation widths. Output channel
    0 reads only -32768 (or -128) times -32768 with bias 0 and shift 0: its clamp's top, from a sum that passes int32
    once the window holds 3 or more values of an int16 input."""
    low = -(2 ** (in_bits - 1))
    x = rng.integers(low, -low, (1, h, w, cin)).astype(f"int{in_bits}")
    f = rng.integers(-(2**15), 2**15, (cout, k, k, cin)).astype(np.int16)
    b = rng.integers(-(2**20), 2**20, cout, dtype=np.int32)
    s = _shifts(rng, 14, 18, cout) + np.int8(8 if in_bits == 16 else 0)
    x[0, 0, 0, :], f[0], b[0], s[0] = low, -(2**15), 0, 0
    top = 2 ** (out_bits - 1) - 1
    params = ConvA16Params(1, 1, k // 2, k // 2, -top - 1, top, in_bits, out_bits)
    call = (
        f"{{ static const hil_conv_a16_params pr = {c_initializer(params)}; static const hil_dims di = "
        f"{_dims(x.shape)}, df = {_dims(f.shape)}, do_ = {_dims((1, h, w, cout))};\n"
        "      st = conv2d_a16_w16(&pr, {p}s, &di, {in0}, &df, {p}f, {p}b, &do_, {out}); }"
    )
    expected = conv2d_a16_w16(params, s, x, f, b, (h, w))
    name = f"conv a16 w16 {k}x{k} {h}x{w}x{cin}->{cout} int{in_bits}->int{out_bits}"
    arrays = {"f": conv_a16_w16_device_filter(f, in_bits), "b": b, "s": s}
    return KernelCase(name, [x], expected, arrays, call, h * w * cout * k * k * cin)


def conv_a16_bound_case(rng: np.random.Generator, channels: int) -> KernelCase:
    """A 1x1 conv2d_a16 of a 1x3 int16 map at the bound of its 32-bit requantisation (HIL_A16_NARROW_S16_MAX_N):
    every input -32768, so 256 channels of weight -128 sum to 2^30 and with the bias 2^30 - 1 reach 2^31 - 1, and
    weights of 127 with the bias -(2^30 - 1) come within 2^23 of -2^31; one channel more passes int32 and must take
    the 64-bit requantisation. Two more output channels are random. The first two pixels go as a pixel pair, the
    third through the one-pixel loop."""
    x = np.full((1, 1, 3, channels), -32768, dtype=np.int16)
    f = np.stack([np.full(channels, -128), np.full(channels, 127), *rng.integers(-128, 128, (2, channels))])
    f = f.reshape(4, 1, 1, channels).astype(np.int8)
    b = np.array([2**30 - 1, -(2**30 - 1), *rng.integers(-(2**29), 2**29, 2)], dtype=np.int32)
    s = _shifts(rng, 17, 20, 4)
    params = ConvA16Params(1, 1, 0, 0, -32768, 32767, 16, 16)
    call = (
        f"{{ static const hil_conv_a16_params pr = {c_initializer(params)}; static const hil_dims di = "
        f"{_dims(x.shape)}, df = {_dims(f.shape)}, do_ = {_dims((1, 1, 3, 4))};\n"
        "      st = conv2d_a16(&pr, {p}s, &di, {in0}, &df, {p}f, {p}b, &do_, {out}); }"
    )
    expected = conv2d_a16(params, s, x, f, b, (1, 3))
    return KernelCase(
        f"conv a16 1x1 {channels} int16 channels at int32's bound",
        [x],
        expected,
        {"f": conv_a16_device_filter(f, 16), "b": b, "s": s},
        call,
        3 * 4 * channels,
    )


def depthwise_a16_case(
    rng: np.random.Generator,
    h: int,
    w: int,
    c: int,
    stride: int,
    in_bits: int,
    out_bits: int,
    bias: int = 5000,
    pad: int = 1,
) -> KernelCase:
    """A 3x3 zero-padded depthwise_conv2d_a16 with the given activation widths, clamped at the output's limits;
    biases in -bias..bias (from 2^30 on, requantised in 64 bits); pad 3 leaves the corner outputs no taps."""
    x = rng.integers(-(2 ** (in_bits - 1)), 2 ** (in_bits - 1), (1, h, w, c)).astype(f"int{in_bits}")
    f = rng.integers(-128, 128, (1, 3, 3, c), dtype=np.int8)
    b = rng.integers(-bias, bias, c, dtype=np.int64).astype(np.int32)
    s = _shifts(rng, 4, 12, c)
    top = 2 ** (out_bits - 1) - 1
    params = ConvA16Params(stride, stride, pad, pad, -top - 1, top, in_bits, out_bits)
    oh, ow = (h + 2 * pad - 3) // stride + 1, (w + 2 * pad - 3) // stride + 1
    call = (
        f"{{ static const hil_conv_a16_params pr = {c_initializer(params)}; static const hil_dims di = "
        f"{_dims(x.shape)}, df = {_dims(f.shape)}, do_ = {_dims((1, oh, ow, c))};\n"
        "      st = depthwise_conv2d_a16(&pr, {p}s, &di, {in0}, &df, {p}f, {p}b, &do_, {out}); }"
    )
    expected = depthwise_conv2d_a16(params, s, x, f, b, (oh, ow))
    name = f"depthwise a16 3x3 s{stride} pad {pad} {h}x{w}x{c} int{in_bits}->int{out_bits}"
    return KernelCase(name, [x], expected, {"f": f, "b": b, "s": s}, call, oh * ow * c * 9)


def pool_case(rng: np.random.Generator, h: int, w: int, c: int, k: int, stride: int, pad: int, average: bool):
    """A max or average pooling over an h x w x c map."""
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    if average:
        params, twin, kernel = (
            AvgPoolParams(k, k, stride, stride, pad, pad, round(2**16 / (k * k)), 16),
            avgpool_s8,
            "avg",
        )
    else:
        params, twin, kernel = PoolParams(k, k, stride, stride, pad, pad, -100, 127), maxpool_s8, "max"
    struct = "hil_avgpool_params" if average else "hil_pool_params"
    call = (
        f"{{ static const {struct} pr = {c_initializer(params)}; static const hil_dims di = {_dims(x.shape)},"
        f" do_ = {_dims((1, oh, ow, c))};\n      st = {kernel}pool_s8(&pr, &di, {{in0}}, &do_, {{out}}); }}"
    )
    name = f"{kernel}pool {k}x{k} s{stride} p{pad} {h}x{w}x{c}"
    return KernelCase(name, [x], twin(params, x, (oh, ow)), {}, call, oh * ow * c * k * k)


def lut_case(rng: np.random.Generator, count: int) -> KernelCase:
    x = rng.integers(-128, 128, (1, count), dtype=np.int8)
    table = rng.integers(-128, 128, 256, dtype=np.int8)
    call = f"{{ st = lut_s8({count}, {{in0}}, {{p}}t, {{out}}); }}"
    return KernelCase(f"lut {count}", [x], lut_s8(x, table), {"t": table}, call, count)


GUARD = 0x5A  # the bytes around a placed case's outputs (ElementwiseLayout): a kernel must leave them as they are


@dataclass(frozen=True)
class ElementwiseLayout:
    """Where an element-wise case's map and outputs sit (prelu_case, scale_channels_case, scale_pixels_case): the map
    in_offset bytes past its arena slot's 16-byte alignment, and each run's output (one a params record of the case)
    out_offset bytes past its slot's, the next run's 3 guard bytes further on, all of them between GUARD bytes that
    must come back unchanged (so a write before, after or between the outputs shows); in_place: each run first
    copies the map to where its output goes and computes there (output == input)."""

    in_offset: int = 0
    out_offset: int = 0
    in_place: bool = False
    gap: int = 3

    def stored_input(self, x: np.ndarray) -> np.ndarray:
        """The map as the arena holds it: in_offset filler bytes (0x33), then the map."""
        return np.concatenate([np.full(self.in_offset, 0x33, np.int8), x.ravel()])[None, :]

    def call(self, struct: str, kernel: str, runs: list, args: str, n: int) -> str:
        """C running kernel(&pr[i], args with {src} and {dst}) for each record of runs: {src} the map's pointer, {dst}
        the run's output's."""
        step = n + self.gap
        total = self.out_offset + len(runs) * step
        source = f"{{in0}} + {self.in_offset}u"
        copy = f"memcpy(dst, {source}, {n}u);\n          " if self.in_place else ""
        call_args = args.replace("{src}", "dst" if self.in_place else source).replace("{dst}", "dst")
        records = ", ".join(c_initializer(r) for r in runs)
        return (
            f"{{ static const {struct} pr[{len(runs)}] = {{{records}}};\n"
            f"      memset({{out}}, {GUARD}, {total}u);\n"
            f"      for (int32_t i = 0; i < {len(runs)} && st == HIL_KERNEL_OK; ++i) {{\n"
            f"          int8_t *dst = {{out}} + {self.out_offset}u + (uint32_t)i * {step}u;\n"
            f"          {copy}st = {kernel}(&pr[i], {call_args});\n      }} }}"
        )

    def expected(self, outputs: list[np.ndarray]) -> np.ndarray:
        """The output slot as the kernel must leave it: GUARD bytes with each run's output in its place."""
        n = outputs[0].size
        stored = np.full(self.out_offset + len(outputs) * (n + self.gap), GUARD, np.int8)
        for i, out in enumerate(outputs):
            start = self.out_offset + i * (n + self.gap)
            stored[start : start + n] = out.ravel()
        return stored

    def describe(self) -> str:
        parts = (f"in +{self.in_offset}" * bool(self.in_offset), f"out +{self.out_offset}" * bool(self.out_offset))
        return " ".join(p for p in (*parts, "in place" * self.in_place) if p)


def _extremes(x: np.ndarray) -> None:
    """x's second pixel -128 in every channel and its third 127 (when x has them), in place."""
    x[0, 1 : min(2, x.shape[1])], x[0, 2 : min(3, x.shape[1])] = -128, 127


def prelu_case(
    rng: np.random.Generator,
    pixels: int,
    c: int,
    *,
    runs: list[PReluParams] | None = None,
    slope_bound: int = 20000,
    extremes: bool = False,
    layout: ElementwiseLayout | None = None,
) -> KernelCase:
    """PReLU on an x of pixels x c values with c random slopes in -slope_bound..slope_bound-1 (a bound of 32768: the
    first slopes the int16 extremes and 0), by default with pos_shift 14, out_shift 13 and a clamp at +-120; runs:
    one call a params record, on the same map and slopes; extremes: the second pixel -128, the third 127; layout:
    the map and outputs misaligned or in place (ElementwiseLayout)."""
    x = rng.integers(-128, 128, (1, pixels, c), dtype=np.int8)
    slope = rng.integers(-slope_bound, slope_bound, c, dtype=np.int16)
    if slope_bound == 32768:
        slope[:3] = [-32768, 32767, 0][: min(3, c)]
    if extremes:
        _extremes(x)
    if runs is None and layout is None:
        params = PReluParams(14, 13, -120, 120)
        call = (
            f"{{ static const hil_prelu_params pr = {c_initializer(params)};\n"
            f"      st = prelu_s8(&pr, {pixels}, {c}, {{in0}}, {{p}}s, {{out}}); }}"
        )
        return KernelCase(f"prelu {pixels}x{c}", [x], prelu_s8(params, x, slope), {"s": slope}, call, pixels * c)
    runs, layout = runs or [PReluParams(14, 13, -120, 120)], layout or ElementwiseLayout()
    call = layout.call("hil_prelu_params", "prelu_s8", runs, f"{pixels}, {c}, {{src}}, {{p}}s, {{dst}}", x.size)
    expected = layout.expected([prelu_s8(r, x, slope) for r in runs])
    name = f"prelu {pixels}x{c} {_describe_runs(runs)} {layout.describe()}".strip()
    return KernelCase(name, [layout.stored_input(x)], expected, {"s": slope}, call, pixels * c * len(runs))


def scale_channels_case(
    rng: np.random.Generator,
    pixels: int,
    c: int,
    out_shift: int = 6,
    *,
    runs: list[ScaleChannelsParams] | None = None,
    extremes: bool = False,
    layout: ElementwiseLayout | None = None,
) -> KernelCase:
    """A squeeze-and-excitation gate: the map {in0} times a per-channel scale {in1}, both in the arena (the scale is
    an activation, computed at run time); the clamp is inside the int8 range so that it is reached. runs: one call a
    params record (out_shift and the clamp), on the same map and scale; extremes: the second pixel -128, the third
    127, and the last channel's scale 127; layout: the map and outputs misaligned or in place (ElementwiseLayout)."""
    x = rng.integers(-128, 128, (1, pixels, c), dtype=np.int8)
    scale = rng.integers(-128, 128, (1, c), dtype=np.int8)
    x[0, 0, :] = -128  # the extreme product, -128 * -128, on channels whose scale is -128
    scale[0, : max(1, c // 3)] = -128
    if extremes:
        _extremes(x)
        scale[0, -1] = 127 if c > 1 else scale[0, -1]
    if runs is None and layout is None:
        params = ScaleChannelsParams(out_shift, -120, 120)
        call = (
            f"{{ static const hil_scale_channels_params pr = {c_initializer(params)};\n"
            f"      st = scale_channels_s8(&pr, {pixels}, {c}, {{in0}}, {{in1}}, {{out}}); }}"
        )
        expected = scale_channels_s8(params, x, scale[0])
        return KernelCase(f"scale channels {pixels}x{c} shift {out_shift}", [x, scale], expected, {}, call, pixels * c)
    runs, layout = runs or [ScaleChannelsParams(out_shift, -120, 120)], layout or ElementwiseLayout()
    args = f"{pixels}, {c}, {{src}}, {{in1}}, {{dst}}"
    call = layout.call("hil_scale_channels_params", "scale_channels_s8", runs, args, x.size)
    expected = layout.expected([scale_channels_s8(r, x, scale[0]) for r in runs])
    name = f"scale channels {pixels}x{c} {_describe_runs(runs)} {layout.describe()}".strip()
    return KernelCase(name, [layout.stored_input(x), scale], expected, {}, call, pixels * c * len(runs))


def scale_pixels_case(
    rng: np.random.Generator,
    pixels: int,
    c: int,
    out_shift: int = 6,
    in_place: bool = False,
    *,
    runs: list[ScaleChannelsParams] | None = None,
    extremes: bool = False,
    layout: ElementwiseLayout | None = None,
) -> KernelCase:
    """A spatial attention gate: the map {in0} times a per-pixel scale {in1} (shape [1, pixels, 1]), both in the
    arena, or in_place: the map copied to {out} and scaled there; the first pixel is -128 in every channel with the
    scale -128 (the extreme product), and the clamp is inside the int8 range so that it is reached. runs: one call a
    params record (out_shift and the clamp), on the same map and scale; extremes: the second pixel -128, the third
    127, both with the scale 127; layout: the map and outputs misaligned or in place (ElementwiseLayout)."""
    x = rng.integers(-128, 128, (1, pixels, c), dtype=np.int8)
    scale = rng.integers(-128, 128, (1, pixels, 1), dtype=np.int8)
    x[0, 0, :], scale[0, 0, 0] = -128, -128
    if extremes:
        _extremes(x)
        scale[0, 1:3, 0] = 127
    if runs is None and layout is None:
        params = ScaleChannelsParams(out_shift, -120, 120)
        source = "{out}" if in_place else "{in0}"
        copy = f"memcpy({{out}}, {{in0}}, {x.size}u);\n      " if in_place else ""
        call = (
            f"{{ static const hil_scale_channels_params pr = {c_initializer(params)};\n"
            f"      {copy}st = scale_pixels_s8(&pr, {pixels}, {c}, {source}, {{in1}}, {{out}}); }}"
        )
        expected = scale_pixels_s8(params, x, scale)
        name = f"scale pixels {pixels}x{c} shift {out_shift}{' in place' if in_place else ''}"
        return KernelCase(name, [x, scale], expected, {}, call, pixels * c)
    runs = runs or [ScaleChannelsParams(out_shift, -120, 120)]
    layout = layout or ElementwiseLayout(in_place=in_place)
    args = f"{pixels}, {c}, {{src}}, {{in1}}, {{dst}}"
    call = layout.call("hil_scale_channels_params", "scale_pixels_s8", runs, args, x.size)
    expected = layout.expected([scale_pixels_s8(r, x, scale) for r in runs])
    name = f"scale pixels {pixels}x{c} {_describe_runs(runs)} {layout.describe()}".strip()
    return KernelCase(name, [layout.stored_input(x), scale], expected, {}, call, pixels * c * len(runs))


def _describe_runs(runs: list[PReluParams] | list[ScaleChannelsParams]) -> str:
    """A case's runs: the params record of one, or how many."""
    return c_initializer(runs[0]) if len(runs) == 1 else f"{len(runs)} runs"


def resize_bilinear_case(
    rng: np.random.Generator, h: int, w: int, c: int, out_h: int, out_w: int, align_corners: int = 0
) -> KernelCase:
    """A bilinear resize of an h x w x c map to out_h x out_w (F.interpolate's sample points); the first pixel's
    channels are -128 and the last's 127, so the int8 extremes are interpolated. Work: one per output element."""
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    x[0, 0, 0, :], x[0, -1, -1, :] = -128, 127
    params = ResizeBilinearParams(align_corners)
    call = (
        f"{{ static const hil_resize_bilinear_params pr = {c_initializer(params)}; static const hil_dims "
        f"di = {_dims(x.shape)}, do_ = {_dims((1, out_h, out_w, c))};\n"
        "      st = resize_bilinear_s8(&pr, &di, {in0}, &do_, {out}); }"
    )
    expected = resize_bilinear_s8(params, x, (out_h, out_w))
    name = f"resize bilinear {h}x{w}x{c}->{out_h}x{out_w}{' align' if align_corners else ''}"
    return KernelCase(name, [x], expected, {}, call, out_h * out_w * c)


def softmax_case(rng: np.random.Generator, rows: int, c: int) -> KernelCase:
    x = rng.integers(-128, 128, (rows, c), dtype=np.int8)
    table = np.round(65536 * np.exp(-np.arange(256) / 16.0)).astype(np.int32)
    params = SoftmaxParams(7, 0, 127)
    call = (
        f"{{ static const hil_softmax_params pr = {c_initializer(params)}; static const hil_dims d = "
        f"{_dims(x.shape)};\n      st = softmax_s8(&pr, &d, {{in0}}, {{p}}t, {{out}}); }}"
    )
    return KernelCase(f"softmax {rows}x{c}", [x], softmax_s8(params, x, table), {"t": table}, call, rows * c)


def log_softmax_case(rng: np.random.Generator, rows: int, c: int, e_in: int = -3, out_shift: int = 1) -> KernelCase:
    """log_softmax_s8 over rows of c values at input exponent e_in (log_softmax_tables' tables); the first row is all
    equal and the second, when there is one, one-hot (127 and -128s), the rest random. Work: one per element."""
    x = rng.integers(-128, 128, (rows, c), dtype=np.int8)
    x[0] = x[0, 0]
    if rows > 1:
        x[1], x[1, rng.integers(c)] = -128, 127
    exp_table, log_table, ln2_steps = log_softmax_tables(e_in)
    params = LogSoftmaxParams(ln2_steps, out_shift)
    call = (
        f"{{ static const hil_log_softmax_params pr = {c_initializer(params)}; static const hil_dims d = "
        f"{_dims(x.shape)};\n      st = log_softmax_s8(&pr, &d, {{in0}}, {{p}}t, {{p}}l, {{out}}); }}"
    )
    expected = log_softmax_s8(params, x, exp_table, log_table)
    name = f"log_softmax {rows}x{c} e_in {e_in} shift {out_shift}"
    return KernelCase(name, [x], expected, {"t": exp_table, "l": log_table}, call, rows * c)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def emit_cases(name: str, cases: list[KernelCase], directory: Path) -> ModelSources:
    """model.h / model.c running every case in turn; inputs are the cases' inputs, outputs their outputs."""
    directory.mkdir(parents=True, exist_ok=True)
    offset, inputs, outputs, consts, body = 0, [], [], [], []
    for index, case in enumerate(cases):
        prefix = f"c{index}_"
        pointers = {}
        for j, array in enumerate(case.inputs):
            spec = TensorSpec(f"{prefix}in{j}", str(array.dtype), array.shape, 1.0)
            inputs.append((spec, offset))
            pointers[f"in{j}"] = f"(const {C_TYPES[array.dtype]} *)(arena + {offset}u)"
            offset = _align(offset + array.nbytes)
        spec = TensorSpec(f"{prefix}out", str(case.expected.dtype), case.expected.shape, 1.0)
        outputs.append((spec, offset))
        pointers["out"] = f"({C_TYPES[case.expected.dtype]} *)(arena + {offset}u)"
        offset = _align(offset + case.expected.nbytes)
        if case.scratch_bytes:
            pointers["scratch"] = f"(void *)(arena + {offset}u)"
            offset = _align(offset + case.scratch_bytes)
        for const, array in case.consts.items():
            values = ", ".join(str(int(v)) for v in array.ravel())
            consts.append(
                f"static const {C_TYPES[array.dtype]} {prefix}{const}[{array.size}] __attribute__((aligned(4))) = "
                f"{{{values}}};"
            )
        call = case.call.replace("{p}", prefix)
        for key, pointer in pointers.items():
            call = call.replace("{" + key + "}", pointer)
        body.append(
            f"    /* {case.name} */\n    " + call + "\n    if (st != HIL_KERNEL_OK) {\n        return st;\n    }"
        )
    digest = hashlib.sha256("\n".join(consts + body).encode()).hexdigest()[:16]

    def table(specs: list[tuple[TensorSpec, int]]) -> str:
        rows = []
        for spec, off in specs:
            dims = ", ".join(str(d) for d in spec.shape)
            rows.append(
                f'{{"{spec.name}", HIL_DTYPE_{spec.dtype.upper()}, {len(spec.shape)}, {{{dims}}}, 1.0f, 0, {off}u}}'
            )
        return ",\n    ".join(rows)

    header = (
        "/* Generated by hil/kernels_ref/device_cases.py. Do not edit. */\n#ifndef MODEL_H\n#define MODEL_H\n"
        f'#include "hil_model.h"\n#define MODEL_ARENA_BYTES {max(offset, ALIGN)}u\n#endif\n'
    )
    source = (
        '/* Generated by hil/kernels_ref/device_cases.py. Do not edit. */\n#include "model.h"\n\n'
        '#include "hil_kernels.h"\n\n' + "\n".join(consts) + "\n\n"
        f"static const hil_tensor_info inputs[{len(inputs)}] = {{\n    {table(inputs)}}};\n"
        f"static const hil_tensor_info outputs[{len(outputs)}] = {{\n    {table(outputs)}}};\n"
        f'const hil_model_info model_info = {{"{name}", "{digest}", MODEL_ARENA_BYTES, {len(inputs)}, inputs, '
        f"{len(outputs)}, outputs}};\n\nint32_t model_run(uint8_t *arena)\n{{\n    hil_kernel_status st = "
        "HIL_KERNEL_OK;\n" + "\n".join(body) + "\n    return 0;\n}\n"
    )
    for file_name, text in (("model.h", header), ("model.c", source)):
        path = directory / file_name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return ModelSources(
        name, digest, directory, tuple(s for s, _ in inputs), tuple(s for s, _ in outputs), max(offset, ALIGN)
    )


@dataclass(frozen=True)
class DeviceRun:
    """What the firmware computed for a list of cases, and the guest instructions model_run took."""

    outputs: list[np.ndarray]
    instructions: int
    mismatches: list[str]


def run_cases(name: str, cases: list[KernelCase], workdir: Path, board_name: str = "mps2-an386") -> DeviceRun:
    """Builds the cases into a semihosting firmware for the QEMU board, runs it once, compares with the twins."""
    from hil.board_description import load_board
    from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
    from hil.targets.qemu import QemuSemihostingTarget

    model = emit_cases(name, cases, workdir / "model_c" / name)
    board = load_board(board_name)
    image = FirmwareBuilder(workdir / "firmware").build(BuildRequest(board, model, "semihosting"))
    target = QemuSemihostingTarget(board, image.elf, workdir / "run" / name, run_timeout=600)
    target.start()
    outcome = target.infer(
        [spec.to_bytes(array) for spec, array in zip(model.inputs, [a for c in cases for a in c.inputs], strict=True)]
    )
    outputs = [spec.from_bytes(data) for spec, data in zip(model.outputs, outcome.outputs, strict=True)]
    mismatches = []
    for case, got in zip(cases, outputs, strict=True):
        if not np.array_equal(got, case.expected):
            count = int(np.count_nonzero(got != case.expected))
            mismatches.append(f"{case.name}: {count} of {got.size} values differ from the numpy twin")
    instructions = outcome.summary.timing.instructions or 0
    return DeviceRun(outputs, instructions, mismatches)
