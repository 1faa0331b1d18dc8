"""The general models' kernels (grouped/dilated convolution, fully connected, max/average pooling, the max over
channels, table activations, gates per channel and per pixel, softmax, log-softmax): host C == numpy twin bit for bit
on random shapes, and each refuses bad arguments."""

from __future__ import annotations

import ctypes
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hil.host_build import HostKernelError, HostKernels
from hil.host_build.kernels import _dims, _ptr, _struct
from hil.kernels_ref import (
    AvgPoolParams,
    ConvA16Params,
    FullyConnectedA16Params,
    FullyConnectedParams,
    GroupedConvParams,
    LogSoftmaxParams,
    PoolParams,
    PReluParams,
    ResizeBilinearParams,
    ScaleChannelsParams,
    SoftmaxParams,
    avgpool_s8,
    conv2d_a16,
    conv2d_a16_w16,
    depthwise_conv2d_a16,
    fully_connected_a16,
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
from hil.kernels_ref.fixed import KernelRangeError


@pytest.mark.parametrize(("in_bits", "out_bits"), [(8, 16), (16, 16), (16, 8), (8, 8)])
def test_fully_connected_a16_matches_twin(host: HostKernels, in_bits: int, out_bits: int) -> None:
    """Every pair of widths, an int16 input long enough to need 64-bit sums, and a clamp at the output's limits."""
    rng = np.random.default_rng(4300 + in_bits + out_bits)
    n, m, batch = 700, 7, 2
    top = 2 ** (out_bits - 1) - 1
    x = rng.integers(-(2 ** (in_bits - 1)), 2 ** (in_bits - 1), (batch, n)).astype(f"int{in_bits}")
    wt = rng.integers(-128, 128, (m, n), dtype=np.int8)
    b = rng.integers(-(2**29), 2**29, m, dtype=np.int32)
    s = rng.integers(0, 20 if in_bits == 8 else 31, m).astype(np.int8)
    params = FullyConnectedA16Params(-top - 1, top, in_bits, out_bits)
    expected = fully_connected_a16(params, s, x, wt, b)
    assert expected.dtype == np.dtype(f"int{out_bits}") and {-top - 1, top} & set(expected.ravel().tolist())
    np.testing.assert_array_equal(host.fully_connected_a16(params, s, x, wt, b), expected)


def test_fully_connected_a16_refuses_bad_widths_and_clamps(host: HostKernels) -> None:
    x, wt, s = np.zeros((1, 8), np.int8), np.zeros((2, 8), np.int8), np.zeros(2, np.int8)
    with pytest.raises(KernelRangeError, match="expected 8 or 16 bits"):
        fully_connected_a16(FullyConnectedA16Params(-128, 127, 8, 12), s, x, wt, None)
    with pytest.raises(HostKernelError, match="fully_connected_a16"):
        host.fully_connected_a16(FullyConnectedA16Params(-128, 127, 8, 12), s, x, wt, None)
    with pytest.raises(HostKernelError, match="fully_connected_a16"):  # a clamp beyond int8 on an int8 output
        host.fully_connected_a16(FullyConnectedA16Params(-300, 300, 8, 8), s, x, wt, None)


@pytest.mark.parametrize("bias_bound", [2**29, 2**31 - 1])
@pytest.mark.parametrize(("in_bits", "out_bits"), [(8, 16), (16, 16), (16, 8), (8, 8)])
@pytest.mark.parametrize(("stride", "in_c", "out_c"), [(2, 5, 6), (1, 7, 5), (1, 20, 3), (1, 60, 3), (1, 520, 6)])
def test_conv2d_a16_matches_twin(
    host: HostKernels, in_bits: int, out_bits: int, stride: int, in_c: int, out_c: int, bias_bound: int
) -> None:
    """Every pair of widths on a padded convolution, with a clamp at the output's limits. Stride 1 with an odd
    channel count on both sides takes the pixel-pair path through its contiguous tap rows, its channel tail and its
    odd last output channel; stride 2 its tap-by-tap path. An int16 input of 60 channels (a window of 540 values)
    is summed tap by tap, not in pairs; one of 520 (a tap alone could pass int32) in the 64-bit loop. Biases below
    2^30 with an int8 input or an int16 window below 256 values (20 channels: 180) are requantised in 32 bits, larger
    ones in 64."""
    rng = np.random.default_rng(4400 + in_bits + out_bits + stride + bias_bound % 7)
    top = 2 ** (out_bits - 1) - 1
    x = rng.integers(-(2 ** (in_bits - 1)), 2 ** (in_bits - 1), (2, 9, 8, in_c)).astype(f"int{in_bits}")
    f = rng.integers(-128, 128, (out_c, 3, 3, in_c), dtype=np.int8)
    b = rng.integers(-bias_bound, bias_bound, out_c, dtype=np.int64).astype(np.int32)
    s = rng.integers(8, 18 if in_bits == 8 else 26, out_c).astype(np.int8)
    b[0], s[0] = bias_bound - 1, 0  # a channel at the clamp's top
    params = ConvA16Params(stride, stride, 1, 1, -top - 1, top, in_bits, out_bits)
    out_hw = (_out(9, 3, stride, 1), _out(8, 3, stride, 1))
    expected = conv2d_a16(params, s, x, f, b, out_hw)
    assert expected.dtype == np.dtype(f"int{out_bits}") and {-top - 1, top} & set(expected.ravel().tolist())
    np.testing.assert_array_equal(host.conv2d_a16(params, s, x, f, b, out_hw), expected)


def test_conv2d_a16_refuses_bad_widths_and_clamps(host: HostKernels) -> None:
    x, f, s = np.zeros((1, 3, 3, 2), np.int8), np.zeros((2, 3, 3, 2), np.int8), np.zeros(2, np.int8)
    with pytest.raises(KernelRangeError, match="expected 8 or 16 bits"):
        conv2d_a16(ConvA16Params(in_bits=12), s, x, f, None, (1, 1))
    with pytest.raises(HostKernelError, match="conv2d_a16"):
        host.conv2d_a16(ConvA16Params(in_bits=12), s, x, f, None, (1, 1))
    with pytest.raises(HostKernelError, match="conv2d_a16"):  # a clamp beyond int8 on an int8 output
        host.conv2d_a16(ConvA16Params(act_min=-300, act_max=300), s, x, f, None, (1, 1))


@pytest.mark.parametrize(("in_bits", "out_bits"), [(8, 16), (16, 16), (16, 8), (8, 8)])
@pytest.mark.parametrize(("k", "stride", "in_c", "out_c"), [(3, 2, 5, 6), (3, 1, 7, 5), (1, 1, 64, 7), (1, 1, 520, 4)])
def test_conv2d_a16_w16_matches_twin(
    host: HostKernels, in_bits: int, out_bits: int, k: int, stride: int, in_c: int, out_c: int
) -> None:
    """Every pair of widths: a padded 3x3 (strided, and with odd channel counts: the pair loop's tail and its odd last
    output channel) and a 1x1 (the MBConv expansion's shape). Output channel 0 sees only the extremes, -32768 (or
    -128) times -32768 at every tap: the 520-channel window's sum of 2^39 passes any 32-bit accumulator."""
    rng = np.random.default_rng(4500 + in_bits + out_bits + k + in_c)
    top, low = 2 ** (out_bits - 1) - 1, -(2 ** (in_bits - 1))
    x = rng.integers(low, -low, (2, 9, 8, in_c)).astype(f"int{in_bits}")
    f = rng.integers(-(2**15), 2**15, (out_c, k, k, in_c)).astype(np.int16)
    bound, shift = (2**24, 16) if in_bits == 8 else (2**31 - 1, 24)  # about the random sums' own size
    b = rng.integers(-bound, bound, out_c, dtype=np.int64).astype(np.int32)
    s = (shift - (out_bits - 8) + rng.integers(0, 3, out_c)).astype(np.int8)
    x[0, :, :, :] = low
    f[0], b[0], s[0] = -(2**15), 0, 0  # a channel at the clamp's top, from the extreme sum
    pad = k // 2
    params = ConvA16Params(stride, stride, pad, pad, -top - 1, top, in_bits, out_bits)
    out_hw = (_out(9, k, stride, pad), _out(8, k, stride, pad))
    expected = conv2d_a16_w16(params, s, x, f, b, out_hw)
    assert expected.dtype == np.dtype(f"int{out_bits}") and top in expected[0, :, :, 0]
    assert len(np.unique(expected[1])) > 10  # the random image's values are not all clamped
    np.testing.assert_array_equal(host.conv2d_a16_w16(params, s, x, f, b, out_hw), expected)


def test_conv2d_a16_w16_refuses_bad_widths_and_filters(host: HostKernels) -> None:
    x, f, s = np.zeros((1, 3, 3, 2), np.int8), np.zeros((2, 3, 3, 2), np.int16), np.zeros(2, np.int8)
    with pytest.raises(KernelRangeError, match="expected 8 or 16 bits"):
        conv2d_a16_w16(ConvA16Params(in_bits=12), s, x, f, None, (1, 1))
    with pytest.raises(HostKernelError, match="conv2d_a16_w16"):
        host.conv2d_a16_w16(ConvA16Params(in_bits=12), s, x, f, None, (1, 1))
    with pytest.raises(HostKernelError, match="conv2d_a16_w16"):  # a clamp beyond int8 on an int8 output
        host.conv2d_a16_w16(ConvA16Params(act_min=-300, act_max=300), s, x, f, None, (1, 1))
    with pytest.raises(TypeError, match="filter: expected int16"):  # int8 weights are conv2d_a16's
        conv2d_a16_w16(ConvA16Params(), s, x, f.astype(np.int8), None, (1, 1))


@pytest.mark.parametrize("bias_bound", [2**29, 2**31 - 1])
@pytest.mark.parametrize(("in_bits", "out_bits"), [(8, 16), (16, 16), (16, 8), (8, 8)])
@pytest.mark.parametrize(("stride", "k", "chans"), [(1, 3, 12), (2, 3, 10), (1, 5, 7), (2, 1, 4), (1, 17, 4)])
def test_depthwise_conv2d_a16_matches_twin(
    host: HostKernels, in_bits: int, out_bits: int, stride: int, k: int, chans: int, bias_bound: int
) -> None:
    """Every pair of widths on a padded depthwise convolution, with a clamp at the output's limits: channels in
    blocks of 4 and a tail, windows cut by the padding on every side, and a pad wider than the kernel reach (outputs
    with no tap at all: the bias alone). Biases below 2^30 with fewer than 256 taps (not 17x17) are requantised in 32
    bits; biases near int32's limits in 64."""
    rng = np.random.default_rng(4500 + in_bits + out_bits + stride + k + bias_bound % 7)
    top = 2 ** (out_bits - 1) - 1
    pad = k // 2 + (k == 1)
    x = rng.integers(-(2 ** (in_bits - 1)), 2 ** (in_bits - 1), (2, 9, 8, chans)).astype(f"int{in_bits}")
    f = rng.integers(-128, 128, (1, k, k, chans), dtype=np.int8)
    b = rng.integers(-bias_bound, bias_bound, chans, dtype=np.int64).astype(np.int32)
    s = rng.integers(4, 16 if in_bits == 8 else 24, chans).astype(np.int8)
    b[0], s[0] = bias_bound - 1, 0  # a channel at the clamp's top
    params = ConvA16Params(stride, stride, pad, pad, -top - 1, top, in_bits, out_bits)
    out_hw = (_out(9, k, stride, pad), _out(8, k, stride, pad))
    expected = depthwise_conv2d_a16(params, s, x, f, b, out_hw)
    assert expected.dtype == np.dtype(f"int{out_bits}") and {-top - 1, top} & set(expected.ravel().tolist())
    np.testing.assert_array_equal(host.depthwise_conv2d_a16(params, s, x, f, b, out_hw), expected)


def test_depthwise_conv2d_a16_refuses_bad_widths_and_shapes(host: HostKernels) -> None:
    x, f, s = np.zeros((1, 3, 3, 2), np.int8), np.zeros((1, 3, 3, 2), np.int8), np.zeros(2, np.int8)
    with pytest.raises(KernelRangeError, match="expected 8 or 16 bits"):
        depthwise_conv2d_a16(ConvA16Params(in_bits=12), s, x, f, None, (1, 1))
    with pytest.raises(HostKernelError, match="depthwise_conv2d_a16"):
        host.depthwise_conv2d_a16(ConvA16Params(in_bits=12), s, x, f, None, (1, 1))
    with pytest.raises(HostKernelError, match="depthwise_conv2d_a16"):  # a clamp beyond int8 on an int8 output
        host.depthwise_conv2d_a16(ConvA16Params(act_min=-300, act_max=300), s, x, f, None, (1, 1))
    wide = np.zeros((1, 23, 23, 2), np.int8)  # 529 taps: a channel's int32 sum could overflow
    with pytest.raises(KernelRangeError, match="at most 511 taps"):
        depthwise_conv2d_a16(ConvA16Params(), s, x, wide, None, (1, 1))
    with pytest.raises(HostKernelError, match="depthwise_conv2d_a16"):
        host.depthwise_conv2d_a16(ConvA16Params(), s, x, wide, None, (1, 1))


def _out(size: int, k: int, stride: int, pad: int, dilation: int = 1) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


@pytest.mark.parametrize("seed", range(8))
def test_grouped_conv_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(4100 + seed)
    groups = int(rng.integers(1, 5))
    cin, cout = groups * int(rng.integers(1, 7)), groups * int(rng.integers(1, 4))
    k, stride, pad, dil = (
        int(rng.integers(1, 4)),
        int(rng.integers(1, 3)),
        int(rng.integers(0, 3)),
        int(rng.integers(1, 4)),
    )
    h, w = int(rng.integers(k * dil, 12)), int(rng.integers(k * dil, 12))
    params = GroupedConvParams(stride, stride, pad, pad, dil, dil, groups, -100, 110)
    x = rng.integers(-128, 128, (1 + seed % 2, h, w, cin), dtype=np.int8)
    f = rng.integers(-128, 128, (cout, k, k, cin // groups), dtype=np.int8)
    b = rng.integers(-9000, 9000, cout, dtype=np.int32)
    s = rng.integers(6, 12, cout).astype(np.int8)
    hw = (_out(h, k, stride, pad, dil), _out(w, k, stride, pad, dil))
    np.testing.assert_array_equal(
        host.grouped_conv2d_s8(params, s, x, f, b, hw), grouped_conv2d_s8(params, s, x, f, b, hw)
    )


@pytest.mark.parametrize("seed", range(6))
def test_fully_connected_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(4200 + seed)
    n, m, batch = int(rng.integers(1, 300)), int(rng.integers(1, 40)), int(rng.integers(1, 3))
    x = rng.integers(-128, 128, (batch, n), dtype=np.int8)
    wt = rng.integers(-128, 128, (m, n), dtype=np.int8)
    b = rng.integers(-20000, 20000, m, dtype=np.int32) if seed % 3 else None
    s = rng.integers(8, 16, m).astype(np.int8)
    params = FullyConnectedParams(-128 if seed % 2 else 0, 127)
    np.testing.assert_array_equal(host.fully_connected_s8(params, s, x, wt, b), fully_connected_s8(params, s, x, wt, b))


@pytest.mark.parametrize("seed", range(8))
def test_pools_match_twins(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(4300 + seed)
    k, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    pad = int(rng.integers(0, k // 2 + 1))
    h, w, c = int(rng.integers(k, 14)), int(rng.integers(k, 14)), int(rng.integers(1, 11))
    x = rng.integers(-128, 128, (1 + seed % 2, h, w, c), dtype=np.int8)
    hw = (_out(h, k, stride, pad), _out(w, k, stride, pad))
    pool = PoolParams(k, k, stride, stride, pad, pad, -120, 100)
    np.testing.assert_array_equal(host.maxpool_s8(pool, x, hw), maxpool_s8(pool, x, hw))
    avg = AvgPoolParams(k, k, stride, stride, pad, pad, int(rng.integers(1, 65537)), int(rng.integers(10, 24)))
    np.testing.assert_array_equal(host.avgpool_s8(avg, x, hw), avgpool_s8(avg, x, hw))


def test_global_average_pool_matches_twin(host: HostKernels) -> None:
    rng = np.random.default_rng(4400)
    x = rng.integers(-128, 128, (1, 25, 5, 64), dtype=np.int8)
    params = AvgPoolParams(25, 5, 1, 1, 0, 0, round(2**22 / 125), 22)
    got = host.avgpool_s8(params, x, (1, 1))
    np.testing.assert_array_equal(got, avgpool_s8(params, x, (1, 1)))
    np.testing.assert_allclose(got.ravel(), x.mean(axis=(1, 2)).ravel(), atol=0.51)


def test_lut_matches_twin(host: HostKernels) -> None:
    rng = np.random.default_rng(4500)
    table = rng.integers(-128, 128, 256, dtype=np.int8)
    x = rng.integers(-128, 128, (3, 7, 5), dtype=np.int8)
    got = host.lut_s8(x, table)
    np.testing.assert_array_equal(got, lut_s8(x, table))
    np.testing.assert_array_equal(host.lut_s8(np.arange(-128, 128, dtype=np.int8), table), table)


@pytest.mark.parametrize(("pos_shift", "out_shift"), [(14, 14), (0, 0), (23, 31), (12, 9)])
def test_prelu_matches_twin(host: HostKernels, pos_shift: int, out_shift: int) -> None:
    """Slopes of both signs and the int16 extremes, every int8 input, in place too; shifts at their limits, and a
    clamp the output's limits reach."""
    rng = np.random.default_rng(4550 + pos_shift)
    slope = np.concatenate([[-32768, 32767, 0], rng.integers(-32768, 32768, 4)]).astype(np.int16)
    x = rng.integers(-128, 128, (2, 5, 9, slope.size), dtype=np.int8)
    x[0, 0, 0, :] = -128
    params = PReluParams(pos_shift, out_shift, -100, 90)
    got = host.prelu_s8(params, x, slope)
    np.testing.assert_array_equal(got, prelu_s8(params, x, slope))
    if out_shift <= pos_shift:  # the positive side reaches 127 before the clamp
        assert got.max() == 90, "the clamp is reached"
    every = np.repeat(np.arange(-128, 128, dtype=np.int8)[:, None], slope.size, axis=1)
    np.testing.assert_array_equal(host.prelu_s8(params, every, slope), prelu_s8(params, every, slope))


def test_prelu_refuses_shifts_out_of_range(host: HostKernels) -> None:
    slope = np.ones(3, np.int16)
    x = np.zeros((1, 3), np.int8)
    with pytest.raises(HostKernelError):
        host.prelu_s8(PReluParams(24, 0), x, slope)
    with pytest.raises(KernelRangeError):
        prelu_s8(PReluParams(0, 32), x, slope)


def _every_pair() -> tuple[np.ndarray, np.ndarray]:
    """(input, scale): every int8 input (one a row) against every int8 scale value (one a channel)."""
    values = np.arange(-128, 128, dtype=np.int8)
    return np.repeat(values[:, None], values.size, axis=1), values.copy()


def _scaled_in_place(
    host: HostKernels, kernel: str, params: ScaleChannelsParams, x: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """A scale kernel run on x's pixels x channels with output == input: the buffer it left."""
    buffer = x.copy()
    pointer = _ptr(buffer, np.int8)
    pixels, channels = (ctypes.c_int32(n) for n in x.shape)
    host._call(kernel, ctypes.byref(_struct(params)), pixels, channels, pointer, _ptr(scale, np.int8), pointer)
    return buffer


def _assert_rounds_every_product(host_kernel, twin, x: np.ndarray, scale: np.ndarray, out_shift: int) -> None:
    """host C == twin == the formula in floats (every value is exact in float64) for x times scale (broadcast):
    round half up, then saturate at the int8 limits, never wrap."""
    params = ScaleChannelsParams(out_shift)
    expected = twin(params, x, scale)
    np.testing.assert_array_equal(host_kernel(params, x, scale), expected)
    exact = np.floor(x.astype(np.float64) * scale.astype(np.float64) / 2.0**out_shift + 0.5)
    np.testing.assert_array_equal(expected, np.clip(exact, -128, 127).astype(np.int8))
    if out_shift <= 6:
        assert expected.min() == -128 and expected.max() == 127, "saturates at the int8 limits"


@pytest.mark.parametrize("out_shift", [0, 1, 7, 14, 15, 31])
def test_scale_channels_matches_twin(host: HostKernels, out_shift: int) -> None:
    """Scales of both signs, 0, +-1 and the int8 extremes on a random map, and every int8 input against every int8
    scale at the int8 limits (the products that saturate must clamp, not wrap); shifts at their limits (0, 31), and a
    clamp inside int8 the output reaches. The twin is checked against the formula in floats (every value is exact in
    float64)."""
    rng = np.random.default_rng(4560 + out_shift)
    scale = np.concatenate([[-128, 127, 0, 1, -1], rng.integers(-128, 128, 6)]).astype(np.int8)
    x = rng.integers(-128, 128, (2, 5, 9, scale.size), dtype=np.int8)
    x[0, 0, 0, :], x[0, 0, 1, :] = -128, 127
    params = ScaleChannelsParams(out_shift, -100, 90)
    got = host.scale_channels_s8(params, x, scale)
    np.testing.assert_array_equal(got, scale_channels_s8(params, x, scale))
    if out_shift <= 7:  # -128 * -128 and 127 * -128 reach past both limits
        assert got.max() == 90 and got.min() == -100, "the clamp is reached on both sides"

    every, values = _every_pair()
    _assert_rounds_every_product(host.scale_channels_s8, scale_channels_s8, every, values, out_shift)


@pytest.mark.parametrize("out_shift", [9, 0])
def test_scale_channels_in_place(host: HostKernels, out_shift: int) -> None:
    """output == input (each value is read before it is written), on 1 pixel and on many, odd channel counts."""
    rng = np.random.default_rng(4570 + out_shift)
    for pixels, channels in ((1, 1), (1, 13), (37, 5)):
        x = rng.integers(-128, 128, (pixels, channels), dtype=np.int8)
        scale = rng.integers(-128, 128, channels, dtype=np.int8)
        params = ScaleChannelsParams(out_shift, -128, 127)
        in_place = _scaled_in_place(host, "scale_channels_s8", params, x, scale)
        np.testing.assert_array_equal(in_place, scale_channels_s8(params, x, scale))


@pytest.mark.parametrize("out_shift", [-1, -14, -15, 32, -128, 100])
def test_scale_channels_refuses_shifts_out_of_range(host: HostKernels, out_shift: int) -> None:
    """0..31 only: the compiler never asks for a left shift (-1 and -14 were once exact left shifts)."""
    scale, x = np.ones(3, np.int8), np.zeros((2, 3), np.int8)
    with pytest.raises(HostKernelError, match="scale_channels_s8"):
        host.scale_channels_s8(ScaleChannelsParams(out_shift), x, scale)
    with pytest.raises(KernelRangeError, match="out_shift"):
        scale_channels_s8(ScaleChannelsParams(out_shift), x, scale)


def test_scale_channels_refuses_bad_arguments(host: HostKernels) -> None:
    """No channels, a negative pixel count and NULL pointers in the C; wrong dtypes and shapes in the twin."""
    params, scale, x = ScaleChannelsParams(3), np.ones(3, np.int8), np.zeros((2, 3), np.int8)
    with pytest.raises(HostKernelError):
        host.scale_channels_s8(params, np.zeros((2, 0), np.int8), np.zeros(0, np.int8))
    output = np.zeros_like(x)
    good = (_ptr(x, np.int8), _ptr(scale, np.int8), _ptr(output, np.int8))
    three = ctypes.c_int32(3)
    for pixels, pointers in (
        (-1, good),
        (2, (None, *good[1:])),
        (2, (good[0], None, good[2])),
        (2, (*good[:2], None)),
    ):
        with pytest.raises(HostKernelError):
            host._call("scale_channels_s8", ctypes.byref(_struct(params)), ctypes.c_int32(pixels), three, *pointers)
    with pytest.raises(HostKernelError):
        host._call("scale_channels_s8", None, ctypes.c_int32(2), three, *good)
    host._call("scale_channels_s8", ctypes.byref(_struct(params)), ctypes.c_int32(0), three, *good)  # no pixels: OK
    with pytest.raises(TypeError, match="does not match"):
        host.scale_channels_s8(params, np.zeros((2, 4), np.int8), scale)
    for bad_x, bad_scale in (
        (x.astype(np.int16), scale),
        (x, scale.astype(np.int16)),
        (np.zeros((2, 4), np.int8), scale),
        (x, scale.reshape(1, 3)),
        (np.zeros((2, 0), np.int8), np.zeros(0, np.int8)),
        (np.int8(1), np.ones(1, np.int8)),
    ):
        with pytest.raises(KernelRangeError, match="scale_channels_s8"):
            scale_channels_s8(params, bad_x, bad_scale)


# (the pixels' shape, channels): one pixel, one channel, channel counts below, at and past multiples of 4 (the M4's
# words and the tails after them), rows, and NHWC maps
GATE_SHAPES = [
    ((1,), 1),
    ((7,), 1),
    ((5,), 3),
    ((6,), 4),
    ((9,), 5),
    ((4,), 7),
    ((3,), 8),
    ((2, 3), 13),
    ((1, 6, 5), 32),
    ((2, 4, 3), 35),
]


@pytest.mark.parametrize("out_shift", [0, 1, 7, 14, 15, 31])
def test_scale_pixels_matches_twin(host: HostKernels, out_shift: int) -> None:
    """Every shape of GATE_SHAPES with random gates; a map whose first pixels are -128 or 127 everywhere, under scales
    of both signs, 0, +-1 and the int8 extremes, with a clamp inside int8 the output reaches; and every int8 input
    (a pixel's channels) against every int8 scale (one a pixel) at the int8 limits. The twin is checked against the
    formula in floats (every value is exact in float64)."""
    rng = np.random.default_rng(4590 + out_shift)
    params = ScaleChannelsParams(out_shift, -100, 90)
    for pixels, channels in GATE_SHAPES:
        x = rng.integers(-128, 128, (*pixels, channels), dtype=np.int8)
        scale = rng.integers(-128, 128, (*pixels, 1), dtype=np.int8)
        np.testing.assert_array_equal(host.scale_pixels_s8(params, x, scale), scale_pixels_s8(params, x, scale))

    x = rng.integers(-128, 128, (2, 5, 9, 11), dtype=np.int8)
    scale = rng.integers(-128, 128, (2, 5, 9, 1), dtype=np.int8)
    x[0, 0, :5], x[0, 0, 5:7] = -128, 127
    scale[0, 0, :7, 0] = [-128, 127, 0, 1, -1, -128, 127]
    got = host.scale_pixels_s8(params, x, scale)
    np.testing.assert_array_equal(got, scale_pixels_s8(params, x, scale))
    if out_shift <= 7:  # -128 * -128 and 127 * -128 reach past both limits
        assert got.max() == 90 and got.min() == -100, "the clamp is reached on both sides"

    every, values = _every_pair()  # pixel p: every int8 value, times the scale values[p]
    _assert_rounds_every_product(host.scale_pixels_s8, scale_pixels_s8, every.T.copy(), values[:, None], out_shift)


@pytest.mark.parametrize("out_shift", [9, 0])
def test_scale_pixels_in_place(host: HostKernels, out_shift: int) -> None:
    """output == input (each value is read before it is written), on 1 pixel and on many, odd channel counts."""
    rng = np.random.default_rng(4595 + out_shift)
    for pixels, channels in ((1, 1), (1, 13), (37, 5), (8, 1)):
        x = rng.integers(-128, 128, (pixels, channels), dtype=np.int8)
        scale = rng.integers(-128, 128, (pixels, 1), dtype=np.int8)
        params = ScaleChannelsParams(out_shift, -128, 127)
        in_place = _scaled_in_place(host, "scale_pixels_s8", params, x, scale)
        np.testing.assert_array_equal(in_place, scale_pixels_s8(params, x, scale))


@pytest.mark.parametrize("out_shift", [-1, -14, 32, 100])
def test_scale_pixels_refuses_shifts_out_of_range(host: HostKernels, out_shift: int) -> None:
    scale, x = np.ones((2, 1), np.int8), np.zeros((2, 3), np.int8)
    with pytest.raises(HostKernelError, match="scale_pixels_s8"):
        host.scale_pixels_s8(ScaleChannelsParams(out_shift), x, scale)
    with pytest.raises(KernelRangeError, match=r"scale_pixels_s8 out_shift out of range 0\.\.31"):
        scale_pixels_s8(ScaleChannelsParams(out_shift), x, scale)


def test_scale_pixels_refuses_bad_arguments(host: HostKernels) -> None:
    """No channels, a negative pixel count and NULL pointers in the C (no pixels is fine); a scale not of the pixels'
    shape in the binding; wrong dtypes and shapes in the twin, each message naming what it expected."""
    params, scale, x = ScaleChannelsParams(3), np.ones((2, 1), np.int8), np.zeros((2, 3), np.int8)
    with pytest.raises(HostKernelError, match="scale_pixels_s8"):
        host.scale_pixels_s8(params, np.zeros((2, 0), np.int8), scale)
    output = np.zeros_like(x)
    good = (_ptr(x, np.int8), _ptr(scale, np.int8), _ptr(output, np.int8))
    for pixels, channels, pointers in (
        (-1, 3, good),
        (2, 0, good),
        (2, 3, (None, *good[1:])),
        (2, 3, (good[0], None, good[2])),
        (2, 3, (*good[:2], None)),
    ):
        with pytest.raises(HostKernelError, match="scale_pixels_s8"):
            host._call(
                "scale_pixels_s8",
                ctypes.byref(_struct(params)),
                ctypes.c_int32(pixels),
                ctypes.c_int32(channels),
                *pointers,
            )
    with pytest.raises(HostKernelError, match="scale_pixels_s8"):
        host._call("scale_pixels_s8", None, ctypes.c_int32(2), ctypes.c_int32(3), *good)
    host._call("scale_pixels_s8", ctypes.byref(_struct(params)), ctypes.c_int32(0), ctypes.c_int32(3), *good)
    for bad_scale in (np.ones(2, np.int8), np.ones((2, 3), np.int8), np.ones((3, 1), np.int8)):
        with pytest.raises(TypeError, match="does not match"):
            host.scale_pixels_s8(params, x, bad_scale)
    for bad_x in (x.astype(np.int16), np.zeros((2, 0), np.int8), np.int8(1)):
        with pytest.raises(KernelRangeError, match="scale_pixels_s8 takes int8 values with at least one channel last"):
            scale_pixels_s8(params, bad_x, scale)
    for bad_scale in (
        scale.astype(np.int16),
        np.ones(2, np.int8),
        np.ones((2, 3), np.int8),
        np.ones((1, 2, 1), np.int8),
    ):
        with pytest.raises(KernelRangeError, match=r"scale_pixels_s8 takes one int8 scale a pixel, shape \(2, 1\)"):
            scale_pixels_s8(params, x, bad_scale)


# The element-wise kernels' clamps (act_min, act_max): the int8 range (the M4's EOR path), inside it (UQSUB8 and
# UADD8), one value, one side only, and past int8 (the board's plain loop, as a wrap of the cast shows)
ELEMENTWISE_CLAMPS = [(-128, 127), (-120, 120), (0, 127), (-100, 100), (-128, -128), (127, 127), (5, 5), (-128, 0)]
WIDE_CLAMP = (-300, 300)
GUARD = 0x5A


def _map_with_extremes(rng: np.random.Generator, pixels: int, channels: int) -> np.ndarray:
    """A random int8 map whose first pixel is -128 everywhere and second 127 (when it has them)."""
    x = rng.integers(-128, 128, (pixels, channels), dtype=np.int8)
    x[:1], x[1:2] = -128, 127
    return x


def _gates(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random int8 gates, the first ones -128, 127, 0, 1 and -1."""
    g = rng.integers(-128, 128, n, dtype=np.int8)
    head = np.array([-128, 127, 0, 1, -1], np.int8)[:n]
    g[: head.size] = head
    return g


def _placed_call(
    host: HostKernels,
    kernel: str,
    params: object,
    x: np.ndarray,
    other: np.ndarray,
    in_offset: int,
    out_offset: int,
    in_place: bool = False,
) -> tuple[np.ndarray, bool]:
    """kernel(params, pixels, channels, input, other, output) with the map read in_offset bytes into a buffer and the
    output written out_offset bytes into another (in_place: over the map, output == input), both buffers 3 bytes
    longer: (the output, whether every byte around it is as it was)."""
    pixels, channels = x.shape
    n = x.size
    source = np.full(in_offset + n + 3, 0x33, np.int8)
    source[in_offset : in_offset + n] = x.ravel()
    target, at = (source, in_offset) if in_place else (np.full(out_offset + n + 3, GUARD, np.int8), out_offset)
    around = np.concatenate([target[:at], target[at + n :]])
    host._call(
        kernel,
        ctypes.byref(_struct(params)),
        ctypes.c_int32(pixels),
        ctypes.c_int32(channels),
        _ptr(source[in_offset:], np.int8),
        _ptr(np.ascontiguousarray(other), other.dtype.type),
        _ptr(target[at:], np.int8),
    )
    return target[at : at + n].reshape(x.shape).copy(), bool(
        (np.concatenate([target[:at], target[at + n :]]) == around).all()
    )


def _scale_twin(kernel: str, params: ScaleChannelsParams, x: np.ndarray, gates: np.ndarray) -> np.ndarray:
    if kernel == "scale_channels_s8":
        return scale_channels_s8(params, x, gates)
    return scale_pixels_s8(params, x, gates[:, None])


def _scale_gates(rng: np.random.Generator, kernel: str, pixels: int, channels: int) -> np.ndarray:
    """One gate a channel (scale_channels_s8) or a pixel (scale_pixels_s8)."""
    return _gates(rng, channels if kernel == "scale_channels_s8" else pixels)


@pytest.mark.parametrize("kernel", ["scale_channels_s8", "scale_pixels_s8"])
def test_scale_kernels_every_shift_and_channel_count(host: HostKernels, kernel: str) -> None:
    """Channel counts 1..17 (the M4's words of 4 and every tail after them) against every out_shift 0..31, on 3
    pixels whose first is -128 and second 127 everywhere, gates -128, 127, 0, 1, -1 first (a pixel's: -128, -128,
    127): host C == twin, the clamp inside int8 reached on both sides at small shifts."""
    rng = np.random.default_rng(4600 + len(kernel))
    for channels in range(1, 18):
        x = _map_with_extremes(rng, 3, channels)
        gates = _gates(rng, channels) if kernel == "scale_channels_s8" else np.array([-128, -128, 127], np.int8)
        for out_shift in range(32):
            params = ScaleChannelsParams(out_shift, -120, 120)
            got, intact = _placed_call(host, kernel, params, x, gates, 0, 0)
            np.testing.assert_array_equal(got, _scale_twin(kernel, params, x, gates), err_msg=f"{channels} {out_shift}")
            assert intact
            if out_shift == 0 and channels >= 2:
                assert got.max() == 120 and got.min() == -120, "the clamp is reached on both sides"


@pytest.mark.parametrize("kernel", ["scale_channels_s8", "scale_pixels_s8"])
def test_scale_kernels_every_shift_and_clamp(host: HostKernels, kernel: str) -> None:
    """Every out_shift 0..31 against clamps narrower than int8, of one value, of one side, and past int8 (where the
    int8 cast wraps, as in the twin), on 5 and 17 channels and 0, 1 and 6 pixels: host C == twin."""
    rng = np.random.default_rng(4610 + len(kernel))
    for pixels, channels in ((6, 5), (1, 17), (0, 17), (6, 17)):
        x = _map_with_extremes(rng, pixels, channels)
        gates = _scale_gates(rng, kernel, pixels, channels)
        for out_shift in range(32):
            for lo, hi in (*ELEMENTWISE_CLAMPS, WIDE_CLAMP):
                params = ScaleChannelsParams(out_shift, lo, hi)
                got, intact = _placed_call(host, kernel, params, x, gates, 0, 0)
                expected = _scale_twin(kernel, params, x, gates)
                np.testing.assert_array_equal(got, expected, err_msg=f"{pixels}x{channels} {params}")
                assert intact


@pytest.mark.parametrize("kernel", ["scale_channels_s8", "scale_pixels_s8"])
def test_scale_kernels_misaligned_and_in_place(host: HostKernels, kernel: str) -> None:
    """The map and the output 0..3 bytes past a word boundary each, and in place at each offset, on channel counts
    below, at and past 4 and pixel counts 0..5: host C == twin, and not a byte written before or after the output."""
    rng = np.random.default_rng(4620 + len(kernel))
    for pixels, channels in ((0, 4), (1, 3), (2, 4), (5, 7), (3, 13), (4, 16)):
        x = _map_with_extremes(rng, pixels, channels)
        gates = _scale_gates(rng, kernel, pixels, channels)
        for params in (ScaleChannelsParams(6, -120, 120), ScaleChannelsParams(9), ScaleChannelsParams(0, 0, 127)):
            expected = _scale_twin(kernel, params, x, gates)
            for in_offset in range(4):
                for out_offset in range(4):
                    got, intact = _placed_call(host, kernel, params, x, gates, in_offset, out_offset)
                    np.testing.assert_array_equal(got, expected, err_msg=f"{x.shape} +{in_offset} +{out_offset}")
                    assert intact, f"a byte around the output changed ({x.shape} +{in_offset} +{out_offset})"
                got, intact = _placed_call(host, kernel, params, x, gates, in_offset, in_offset, in_place=True)
                np.testing.assert_array_equal(got, expected, err_msg=f"in place {x.shape} +{in_offset}")
                assert intact


def _prelu_slopes(rng: np.random.Generator, channels: int) -> np.ndarray:
    """channels random int16 slopes, the first ones -32768, 32767 and 0."""
    slope = rng.integers(-32768, 32768, channels, dtype=np.int16)
    head = np.array([-32768, 32767, 0], np.int16)[:channels]
    slope[: head.size] = head
    return slope


# prelu_s8's pos_shift - out_shift: the M4's columns for 0, 1 and -1 and its general one (2, -2, more doublings than
# saturate, more halvings than leave anything)
PRELU_SIDES = [0, 1, -1, 2, -2, 5, -7, 9, -10]


def test_prelu_every_shift_pair(host: HostKernels) -> None:
    """out_shift 0..31 against pos_shift = out_shift + each of PRELU_SIDES (within 0..23), on 17 channels (4 words
    and a tail of 1) and on 2, with every int8 input a pixel and the int16 extremes among the slopes; clamps inside
    int8 and the int8 range: host C == twin."""
    rng = np.random.default_rng(4630)
    every = np.repeat(np.arange(-128, 128, dtype=np.int8)[:, None], 17, axis=1)
    for x in (every, every[:, :2].copy()):
        slope = _prelu_slopes(rng, x.shape[1])
        for out_shift in range(32):
            for pos_shift in sorted({min(23, max(0, out_shift + d)) for d in PRELU_SIDES}):
                for lo, hi in ((-120, 120), (-128, 127)):
                    params = PReluParams(pos_shift, out_shift, lo, hi)
                    got, intact = _placed_call(host, "prelu_s8", params, x, slope, 0, 0)
                    np.testing.assert_array_equal(got, prelu_s8(params, x, slope), err_msg=str(params))
                    assert intact


def test_prelu_channel_counts_clamps_and_placement(host: HostKernels) -> None:
    """Channel counts 1..17 on 0..4 pixels whose first is -128 and second 127 everywhere, every clamp of
    ELEMENTWISE_CLAMPS and one past int8, the map and output 0..3 bytes past a word boundary and in place: host C ==
    twin, and not a byte written around the output."""
    rng = np.random.default_rng(4640)
    runs = [PReluParams(14, 13, lo, hi) for lo, hi in (*ELEMENTWISE_CLAMPS, WIDE_CLAMP)]
    runs += [PReluParams(14, 14), PReluParams(12, 13, -100, 90), PReluParams(23, 1, -100, 90), PReluParams(0, 17)]
    for channels in range(1, 18):
        pixels = channels % 5
        x = _map_with_extremes(rng, pixels, channels)
        slope = _prelu_slopes(rng, channels)
        for i, params in enumerate(runs):
            expected = prelu_s8(params, x, slope)
            in_offset, out_offset = i % 4, (i // 4) % 4
            got, intact = _placed_call(host, "prelu_s8", params, x, slope, in_offset, out_offset)
            np.testing.assert_array_equal(got, expected, err_msg=f"{x.shape} {params} +{in_offset} +{out_offset}")
            assert intact
            got, intact = _placed_call(host, "prelu_s8", params, x, slope, out_offset, out_offset, in_place=True)
            np.testing.assert_array_equal(got, expected, err_msg=f"in place {x.shape} {params} +{out_offset}")
            assert intact


# (in_h, in_w, out_h, out_w): x2 and x3 upscales, non-integer factors both ways (5 -> 7 and 7 -> 5, also on one
# map), 1 -> 4, outputs of size 1, the identity, and unequal factors per axis
RESIZE_SHAPES = [
    (4, 6, 8, 12),
    (3, 5, 9, 15),
    (5, 7, 7, 5),
    (7, 5, 5, 7),
    (5, 5, 7, 7),
    (7, 7, 5, 5),
    (1, 1, 4, 4),
    (1, 4, 4, 4),
    (6, 5, 1, 1),
    (5, 7, 1, 3),
    (4, 6, 4, 6),
    (13, 11, 29, 4),
]


def _resize_map(rng: np.random.Generator, h: int, w: int, c: int = 5) -> np.ndarray:
    """Two random NHWC int8 maps; the first's corner pixels and a checkerboard channel hold the int8 extremes."""
    x = rng.integers(-128, 128, (2, h, w, c), dtype=np.int8)
    x[0, 0, 0, :], x[0, -1, -1, :], x[1, 0, -1, :] = -128, 127, -128
    x[0, :, :, 0] = np.where((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2, 127, -128)
    return x


def _exact_source(align_corners: int, size_in: int, size_out: int) -> list[tuple[int, int, Fraction]]:
    """(i0, i1, lambda) of every output index from PyTorch's source coordinate, as an exact fraction."""
    points = []
    for d in range(size_out):
        if align_corners:
            src = Fraction(d * (size_in - 1), size_out - 1) if size_out > 1 else Fraction(0)
        else:
            src = max(Fraction((2 * d + 1) * size_in, 2 * size_out) - Fraction(1, 2), Fraction(0))
        i0 = int(src)  # src >= 0: the floor
        points.append((i0, min(i0 + 1, size_in - 1), src - i0))
    return points


def _exact_bilinear(x: np.ndarray, output_hw: tuple[int, int], align_corners: int) -> tuple[np.ndarray, np.ndarray]:
    """(the exact bilinear value rounded half away from zero, where it is exactly a half) in rational arithmetic."""
    v = x.astype(object)
    rows, cols = (_exact_source(align_corners, n, m) for n, m in zip(x.shape[1:3], output_hw, strict=True))
    rounded = np.zeros((x.shape[0], *output_hw, x.shape[3]), dtype=np.int64)
    tie = np.zeros(rounded.shape, dtype=bool)
    for oy, (y0, y1, ly) in enumerate(rows):
        for ox, (x0, x1, lx) in enumerate(cols):
            top = (1 - lx) * v[:, y0, x0] + lx * v[:, y0, x1]
            bottom = (1 - lx) * v[:, y1, x0] + lx * v[:, y1, x1]
            for index, value in np.ndenumerate((1 - ly) * top + ly * bottom):
                magnitude = abs(value)
                whole = int(magnitude + Fraction(1, 2))  # floor(|value| + 1/2)
                rounded[index[0], oy, ox, index[1]] = whole if value >= 0 else -whole
                tie[index[0], oy, ox, index[1]] = magnitude - int(magnitude) == Fraction(1, 2)
    return rounded, tie


def _torch_bilinear(x: np.ndarray, output_hw: tuple[int, int], align_corners: int) -> np.ndarray:
    """F.interpolate of the int8 values as float64 (NCHW inside), rounded half away from zero, NHWC."""
    nchw = torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2)
    y = F.interpolate(nchw, size=output_hw, mode="bilinear", align_corners=bool(align_corners))
    y = y.permute(0, 2, 3, 1).numpy()
    return (np.sign(y) * np.floor(np.abs(y) + 0.5)).astype(np.int64)


@pytest.mark.parametrize("align_corners", [0, 1])
def test_resize_bilinear_matches_twin_and_pytorch(host: HostKernels, align_corners: int) -> None:
    """Host C == twin bit for bit on every shape; the twin == the exact rational bilinear value (PyTorch's source
    coordinates) rounded half away from zero; and PyTorch's float64 F.interpolate, rounded the same way, within 1 of
    the twin, differing only where the exact value is a half (its float coordinates can land either side of a tie),
    at least 99% of all values equal."""
    rng = np.random.default_rng(4580 + align_corners)
    params = ResizeBilinearParams(align_corners)
    equal = total = 0
    for h, w, out_h, out_w in RESIZE_SHAPES:
        x = _resize_map(rng, h, w)
        expected = resize_bilinear_s8(params, x, (out_h, out_w))
        assert expected.shape == (2, out_h, out_w, 5) and expected.dtype == np.int8
        np.testing.assert_array_equal(host.resize_bilinear_s8(params, x, (out_h, out_w)), expected)
        exact, tie = _exact_bilinear(x, (out_h, out_w), align_corners)
        np.testing.assert_array_equal(expected, exact, err_msg=f"{(h, w)} -> {(out_h, out_w)}")
        reference = _torch_bilinear(x, (out_h, out_w), align_corners)
        differ = reference != expected
        assert np.abs(reference - expected).max() <= 1, f"{(h, w)} -> {(out_h, out_w)}"
        assert not (differ & ~tie).any(), f"{(h, w)} -> {(out_h, out_w)}: PyTorch differs away from a tie"
        equal, total = equal + int((~differ).sum()), total + differ.size
        if (h, w) == (out_h, out_w):
            np.testing.assert_array_equal(expected, x)  # the identity reads each pixel with weight 1
        if out_h * out_w > h * w:  # an upscale keeps the extremes (the corners are sampled exactly)
            assert expected.min() == -128 and expected.max() == 127
    assert equal >= 0.99 * total, f"{equal} of {total} equal to PyTorch's"


@pytest.mark.parametrize("align_corners", [0, 1])
def test_resize_bilinear_at_its_size_limits(host: HostKernels, align_corners: int) -> None:
    """1024 output rows and columns (den_y * den_x up to 2048^2 = 2^22 with half-pixel centres, |acc| up to 2^29) and
    1024 input columns: the int32 sums do not overflow. A map all -128 stays -128; host C == twin elsewhere."""
    params = ResizeBilinearParams(align_corners)
    low = np.full((1, 3, 2, 1), -128, np.int8)
    np.testing.assert_array_equal(host.resize_bilinear_s8(params, low, (1024, 1024)), np.full((1, 1024, 1024, 1), -128))
    rng = np.random.default_rng(4590 + align_corners)
    for shape, output_hw in (((1, 3, 5, 2), (1024, 1024)), ((1, 2, 1024, 3), (5, 1023)), ((1, 1024, 1, 1), (1, 1))):
        x = rng.integers(-128, 128, shape, dtype=np.int8)
        x.flat[:2] = -128
        expected = resize_bilinear_s8(params, x, output_hw)
        np.testing.assert_array_equal(host.resize_bilinear_s8(params, x, output_hw), expected)
        assert expected.min() >= x.min() and expected.max() <= x.max()


def test_resize_bilinear_refuses_bad_arguments(host: HostKernels) -> None:
    """align_corners other than 0 or 1, sizes outside 1..1024 in or out: both refuse. NULL pointers and different
    batch or channel counts in and out in the C; wrong dtypes and ranks, and no batch or channels, in the twin."""
    x = np.zeros((1, 4, 4, 3), np.int8)
    for params, input, output_hw in (
        (ResizeBilinearParams(2), x, (8, 8)),
        (ResizeBilinearParams(-1), x, (8, 8)),
        (ResizeBilinearParams(0), x, (0, 8)),
        (ResizeBilinearParams(1), x, (8, 0)),
        (ResizeBilinearParams(0), x, (1025, 8)),
        (ResizeBilinearParams(1), x, (8, 1025)),
        (ResizeBilinearParams(0), np.zeros((1, 0, 4, 3), np.int8), (8, 8)),
        (ResizeBilinearParams(0), np.zeros((1, 1025, 1, 1), np.int8), (8, 8)),
        (ResizeBilinearParams(1), np.zeros((1, 1, 1025, 1), np.int8), (8, 8)),
        (ResizeBilinearParams(0), np.zeros((1, 4, 4, 0), np.int8), (8, 8)),
        (ResizeBilinearParams(0), np.zeros((0, 4, 4, 3), np.int8), (8, 8)),
    ):
        with pytest.raises(HostKernelError, match="resize_bilinear_s8"):
            host.resize_bilinear_s8(params, input, output_hw)
        with pytest.raises(KernelRangeError, match="resize_bilinear_s8"):
            resize_bilinear_s8(params, input, output_hw)
    params, output = ResizeBilinearParams(0), np.zeros((1, 8, 8, 3), np.int8)

    def call(struct, input_dims, input, output_dims, out) -> None:
        host._call("resize_bilinear_s8", struct, input_dims, input, output_dims, out)

    good = (
        ctypes.byref(_struct(params)),
        ctypes.byref(_dims(x.shape)),
        _ptr(x, np.int8),
        ctypes.byref(_dims(output.shape)),
        _ptr(output, np.int8),
    )
    call(*good)  # the good arguments pass
    for position in range(5):
        with pytest.raises(HostKernelError):
            call(*good[:position], None, *good[position + 1 :])
    room = np.zeros((2, 8, 8, 4), np.int8)  # room for every output below, had the C not refused it
    for dims in ((2, 8, 8, 3), (1, 8, 8, 4), (1, 8, 8, 2)):  # another batch or channel count than the input's
        with pytest.raises(HostKernelError):
            call(*good[:3], ctypes.byref(_dims(dims)), _ptr(room, np.int8))
    for bad in (x.astype(np.int16), x[0], x.astype(np.uint8), np.int8(1)):
        with pytest.raises(KernelRangeError, match="resize_bilinear_s8"):
            resize_bilinear_s8(params, bad, (8, 8))


@pytest.mark.parametrize("seed", range(6))
def test_softmax_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(4600 + seed)
    e_in = int(rng.integers(-6, 0))
    table = np.round(65536 * np.exp(-np.arange(256) * 2.0**e_in)).astype(np.int32)
    x = rng.integers(-128, 128, (2, int(rng.integers(1, 40))), dtype=np.int8)
    params = SoftmaxParams(int(rng.integers(0, 15)), 0, 127)
    got = host.softmax_s8(params, x, table)
    np.testing.assert_array_equal(got, softmax_s8(params, x, table))
    if params.out_frac_bits == 7:
        p = np.exp(x * 2.0**e_in) / np.exp(x * 2.0**e_in).sum(axis=-1, keepdims=True)
        np.testing.assert_allclose(got / 128, np.minimum(p, 127 / 128), atol=1.5 / 128)


def test_layer_kernels_refuse_bad_arguments(host: HostKernels) -> None:
    x = np.zeros((1, 4, 4, 6), dtype=np.int8)
    with pytest.raises(HostKernelError, match="grouped_conv2d_s8"):
        host.grouped_conv2d_s8(
            GroupedConvParams(groups=4), np.zeros(4, np.int8), x, np.zeros((4, 1, 1, 1), np.int8), None, (4, 4)
        )
    with pytest.raises(HostKernelError, match="fully_connected_s8"):
        host.fully_connected_s8(
            FullyConnectedParams(), np.full(2, 40, np.int8), x[0, 0], np.zeros((2, 6), np.int8), None
        )
    with pytest.raises(HostKernelError, match="maxpool_s8"):
        host.maxpool_s8(PoolParams(2, 2, 1, 1, 5, 5), x, (3, 3))  # the first window lies wholly in the padding
    with pytest.raises(HostKernelError, match="avgpool_s8"):
        host.avgpool_s8(AvgPoolParams(2, 2, 1, 1, 0, 0, 1, 63), x, (3, 3))
    with pytest.raises(HostKernelError, match="softmax_s8"):
        host.softmax_s8(SoftmaxParams(15), x, np.zeros(256, np.int32))


def _log_softmax_rows(rng: np.random.Generator, c: int) -> np.ndarray:
    """Rows of c int8 values: all equal (-128, 0, 127), one-hot (a 127 among -128s), one -128 among 127s, the
    extremes alternating, random over the whole range, and random with a spread of 0..8 (the outputs of few
    channels then stay within the int8 output at the finer exponents, unclamped)."""
    special = np.array([np.full(c, -128), np.zeros(c), np.full(c, 127), np.full(c, -128), np.full(c, 127)])
    special[3, rng.integers(c)], special[4, rng.integers(c)] = 127, -128
    alternating = np.where(np.arange(c) % 2, 127, -128)[None]
    spread = rng.integers(-128, 120, (4, 1)) + rng.integers(0, 9, (4, c))
    return np.concatenate([special, alternating, rng.integers(-128, 128, (5, c)), spread]).astype(np.int8)


def _log_softmax_tolerance(x: np.ndarray, e_in: int, out_shift: int, exp_table: np.ndarray) -> np.ndarray:
    """The largest |dequantised output - float log_softmax| log_softmax_s8 may give, in nats, per row: half an output
    step (the final rounding), the exp_table's own rounding |ln(S / S_exact)| (the table softmax_s8 shares), and
    the logarithm's: the fraction cut to 16 bits (<= 2^-16) and log_table's chords (<= (1/256)^2 / 8 = 2^-19, ln is
    concave), plus up to 0.5 of a Q16 input step from each of k <= 14 ln2_steps and 2 from log_table's rounding and
    the interpolation's floor."""
    d = x.astype(np.int64) - x.max(axis=-1, keepdims=True)
    exact = (65536.0 * np.exp(d * 2.0**e_in)).sum(axis=-1, keepdims=True)
    table = exp_table[-d].astype(np.float64).sum(axis=-1, keepdims=True)
    log_error = 2.0**-16 + 2.0**-19 + (0.5 * 14 + 2) * 2.0 ** (e_in - 16)
    return 0.5 * 2.0 ** (e_in + out_shift) + np.abs(np.log(table / exact)) + log_error + 1e-12


@pytest.mark.parametrize("c", [1, 2, 10, 1000])
@pytest.mark.parametrize("e_in", range(-7, 0))
def test_log_softmax_matches_twin_and_float(host: HostKernels, e_in: int, c: int) -> None:
    """Host C == twin bit for bit for output shifts 0, 1, 3 and a clamp inside int8, on all-equal, one-hot, extreme
    and random rows, as rows, NHWC pixels and a 3-d array. The twin against float64 F.log_softmax of the dequantised
    input (output at e_in + out_shift): within _log_softmax_tolerance for every value not clamped, and on all-equal
    rows (whose exp_table sum c * 2^16 is exact) within half an output step plus 0.1 % of one plus 2^-12 of an input
    step; the row of zeros' maximum is -ln(c), rounded."""
    rng = np.random.default_rng(4700 + 10 * -e_in + c)
    exp_table, log_table, ln2_steps = log_softmax_tables(e_in)
    x = _log_softmax_rows(rng, c)
    checked = 0
    for out_shift, act_min, act_max in ((0, -128, 127), (1, -128, 127), (3, -128, 127), (1, -100, -2)):
        params = LogSoftmaxParams(ln2_steps, out_shift, act_min, act_max)
        expected = log_softmax_s8(params, x, exp_table, log_table)
        assert expected.shape == x.shape and expected.dtype == np.int8
        np.testing.assert_array_equal(host.log_softmax_s8(params, x, exp_table, log_table), expected)
        for shape in ((1, 3, 5, c), (5, 3, c)):  # NHWC dims {n, h, w, c}; any other rank as rows
            np.testing.assert_array_equal(
                host.log_softmax_s8(params, x.reshape(shape), exp_table, log_table), expected.reshape(shape)
            )
        reference = F.log_softmax(torch.from_numpy(x * 2.0**e_in), dim=-1).numpy()
        error = np.abs(expected * 2.0 ** (e_in + out_shift) - reference)
        inside = (expected > act_min) & (expected < act_max)
        tolerance = _log_softmax_tolerance(x, e_in, out_shift, exp_table)
        assert (error <= tolerance)[inside].all(), f"out_shift {out_shift}: {(error - tolerance)[inside].max()}"
        exact_sum = np.broadcast_to((x == x[:, :1]).all(axis=-1, keepdims=True), x.shape) & inside
        margin = (0.5 + 1e-3) * 2.0 ** (e_in + out_shift) + 2.0 ** (e_in - 12)
        assert (error <= margin)[exact_sum].all()
        checked += int(inside.sum())
        if act_min == -128:  # the row's maximum maps to -ln(sum), e.g. -ln(c) for an all-equal row
            np.testing.assert_array_equal(expected[1], np.round(-np.log(c) * 2.0 ** -(e_in + out_shift)).clip(-128))
    assert checked > 0


@pytest.mark.parametrize(("e_in", "out_shift"), [(-7, 4), (-15, 15), (3, 0)])
def test_log_softmax_at_its_limits(host: HostKernels, e_in: int, out_shift: int) -> None:
    """32767 equal channels (the largest sum, 32767 * 2^16, k = 14): -ln(32767) rounded, at e_in -15 from an L of
    ~2^34 (int64), and at e_in 3 with ln2_steps 5678 and a log_table of few values; then tables of any int32 values
    (log_table random, not increasing, so the interpolation step can be negative; ln2_steps +-2^31) still give the
    twin's bits, from 32767 channels and 1000 random ones."""
    exp_table, log_table, ln2_steps = log_softmax_tables(e_in)
    params = LogSoftmaxParams(ln2_steps, out_shift)
    x = np.full((2, 32767), 127, np.int8)
    x[1] = -128
    expected = log_softmax_s8(params, x, exp_table, log_table)
    np.testing.assert_array_equal(host.log_softmax_s8(params, x, exp_table, log_table), expected)
    reference = -np.log(32767) * 2.0 ** -(e_in + out_shift)
    assert np.abs(expected - reference).max() <= 0.5 + 1e-3 and -128 < reference < 0
    rng = np.random.default_rng(4800 - e_in)
    random = rng.integers(-128, 128, (3, 1000), dtype=np.int8)
    for ln2 in (2**31 - 1, -(2**31), int(rng.integers(-(2**31), 2**31))):
        wild = rng.integers(-(2**31), 2**31, 257).astype(np.int32)
        for rows in (x, random):
            for shift in (0, out_shift, 15):
                params = LogSoftmaxParams(ln2, shift, -128, 127)
                expected = log_softmax_s8(params, rows, exp_table, wild)
                np.testing.assert_array_equal(host.log_softmax_s8(params, rows, exp_table, wild), expected)


def test_log_softmax_tables() -> None:
    """log_softmax_tables: softmax_s8's exp_table (the compiler's formula), log_table increasing from 0 to ln2_steps,
    each value round(2^16 ln(1 + i/256) / 2^e_in); e_in below -15 (ln 2 in Q16 past int32) refused."""
    for e_in in range(-15, 6):
        exp_table, log_table, ln2_steps = log_softmax_tables(e_in)
        assert exp_table.dtype == log_table.dtype == np.int32 and exp_table.shape == (256,)
        assert log_table.shape == (257,) and isinstance(ln2_steps, int)
        np.testing.assert_array_equal(exp_table, np.round(65536 * np.exp(-np.arange(256) * 2.0**e_in)))
        assert exp_table[0] == 65536 and log_table[0] == 0 and log_table[256] == ln2_steps
        assert ln2_steps == round(65536 * np.log(2) / 2.0**e_in)
        assert (np.diff(log_table) >= 0).all() and (np.diff(exp_table) <= 0).all()
        i = np.arange(257)
        np.testing.assert_allclose(log_table, 65536 * np.log1p(i / 256) / 2.0**e_in, atol=0.5)
    with pytest.raises(KernelRangeError, match="log_softmax_tables"):
        log_softmax_tables(-16)


def test_log_softmax_refuses_bad_arguments(host: HostKernels) -> None:
    """The C: each NULL pointer, a channel count of 0 or 32768, a negative n, h or w, out_shift -1 or 16 and an
    exp_table[0] other than 65536 (a wrong table: the sum could fall below 2^16 and index log_table out of range).
    The twin: those, and other dtypes, ranks and table shapes, and exp_table values past 0..65536."""
    exp_table, log_table, ln2_steps = log_softmax_tables(-3)
    params = LogSoftmaxParams(ln2_steps, 1)
    x, out = np.zeros((4, 10), np.int8), np.zeros((4, 10), np.int8)
    good = [
        ctypes.byref(_struct(params)),
        ctypes.byref(_dims((1, 1, 4, 10))),
        _ptr(x, np.int8),
        _ptr(exp_table, np.int32),
        _ptr(log_table, np.int32),
        _ptr(out, np.int8),
    ]

    def call(*args: object) -> None:
        host._call("log_softmax_s8", *args)

    call(*good)  # the good arguments pass
    for position in range(6):
        with pytest.raises(HostKernelError, match="log_softmax_s8"):
            call(*good[:position], None, *good[position + 1 :])
    for dims in ((1, 1, 4, 0), (1, 1, 1, 32768), (-1, 1, 4, 10), (1, -1, 4, 10), (1, 1, -4, 10)):
        with pytest.raises(HostKernelError, match="log_softmax_s8"):
            call(good[0], ctypes.byref(_dims(dims)), *good[2:])
    wrong_first = exp_table.copy()
    wrong_first[0] = 65535
    for bad_params, table in (
        (LogSoftmaxParams(ln2_steps, -1), exp_table),
        (LogSoftmaxParams(ln2_steps, 16), exp_table),
        (params, wrong_first),
        (params, log_table[:256]),  # a log table passed as the exp table: its first value is 0
    ):
        with pytest.raises(HostKernelError, match="log_softmax_s8"):
            host.log_softmax_s8(bad_params, x, table, log_table)
        with pytest.raises(KernelRangeError, match="log_softmax_s8"):
            log_softmax_s8(bad_params, x, table, log_table)
    with pytest.raises(HostKernelError, match="log_softmax_s8"):
        host.log_softmax_s8(params, np.zeros((1, 32768), np.int8), exp_table, log_table)
    over, negative = exp_table.copy(), exp_table.copy()
    over[1], negative[1] = 65537, -1
    for bad_x, bad_exp, bad_log in (
        (x.astype(np.int16), exp_table, log_table),
        (x.astype(np.uint8), exp_table, log_table),
        (np.int8(1), exp_table, log_table),
        (np.zeros((4, 0), np.int8), exp_table, log_table),
        (np.zeros((1, 32768), np.int8), exp_table, log_table),
        (x, exp_table.astype(np.int64), log_table),
        (x, exp_table[:255], log_table),
        (x, exp_table, log_table[:256]),
        (x, exp_table, log_table.astype(np.int16)),
        (x, over, log_table),
        (x, negative, log_table),
    ):
        with pytest.raises(KernelRangeError, match="log_softmax_s8"):
            log_softmax_s8(params, bad_x, bad_exp, bad_log)
