"""Convolution kernels: host C == numpy twin bit for bit on random shapes, strides, per-channel shifts and extreme
values; each output channel is requantised with its own shift."""

from __future__ import annotations

import numpy as np
import pytest

from hil.host_build import HostKernelError, HostKernels
from hil.kernels_ref import ConvParams, conv2d_s8, depthwise_conv2d_s8, pointwise_conv2d_s8
from hil.kernels_ref.conv_w16 import conv2d_s8_w16
from hil.kernels_ref.fixed import KernelRangeError


def _out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def _act(rng: np.random.Generator) -> tuple[int, int]:
    return [(-128, 127), (0, 127), (0, 48), (-20, 20)][rng.integers(4)]


def _shifts(rng: np.random.Generator, channels: int, high: int) -> np.ndarray:
    """A random shift per output channel in 0..high-1."""
    return rng.integers(0, high, channels).astype(np.int8)


def _same(channels: int, shift: int) -> np.ndarray:
    return np.full(channels, shift, dtype=np.int8)


@pytest.mark.parametrize("seed", range(40))
def test_depthwise_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    k = int(rng.choice([3, 3, 3, 1, 5]))
    stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, k // 2 + 1))
    n, h, w, c = int(rng.integers(1, 3)), int(rng.integers(k, 14)), int(rng.integers(k, 14)), int(rng.integers(1, 21))
    lo, hi = _act(rng)
    params = ConvParams(stride, stride, pad, pad, lo, hi)
    shift = _shifts(rng, c, 13)
    x = rng.integers(-128, 128, (n, h, w, c), dtype=np.int8)
    f = rng.integers(-128, 128, (1, k, k, c), dtype=np.int8)
    bias = None if seed % 7 == 0 else rng.integers(-(2**20), 2**20, c, dtype=np.int32)
    out_hw = (_out(h, k, stride, pad) + int(rng.integers(0, 2)), _out(w, k, stride, pad))  # sometimes one row more
    np.testing.assert_array_equal(
        host.depthwise_conv2d_s8(params, shift, x, f, bias, out_hw),
        depthwise_conv2d_s8(params, shift, x, f, bias, out_hw),
    )


def test_depthwise_extremes_and_clamps(host: HostKernels) -> None:
    mixed = np.array([0, 31, 7, 1, 30, 15] * 2, dtype=np.int8)
    for value in (-128, 127):
        x = np.full((1, 7, 9, 12), value, dtype=np.int8)
        f = np.full((1, 3, 3, 12), -128, dtype=np.int8)
        bias = np.array([2**30, -(2**30)] * 6, dtype=np.int32)
        for shift, (lo, hi) in ((_same(12, 0), (-128, 127)), (_same(12, 7), (0, 6 << 4)), (_same(12, 31), (-128, 127))):
            for s in (shift, mixed):
                params = ConvParams(2, 2, 1, 1, lo, hi)
                np.testing.assert_array_equal(
                    host.depthwise_conv2d_s8(params, s, x, f, bias, (4, 5)),
                    depthwise_conv2d_s8(params, s, x, f, bias, (4, 5)),
                )


@pytest.mark.parametrize("seed", range(40))
def test_pointwise_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    n, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 8)), int(rng.integers(1, 8))
    cin, cout = int(rng.integers(1, 70)), int(rng.integers(1, 34))
    lo, hi = _act(rng)
    params = ConvParams(act_min=lo, act_max=hi)
    shift = _shifts(rng, cout, 14)
    x = rng.integers(-128, 128, (n, h, w, cin), dtype=np.int8)
    f = rng.integers(-128, 128, (cout, 1, 1, cin), dtype=np.int8)
    bias = None if seed % 5 == 0 else rng.integers(-(2**24), 2**24, cout, dtype=np.int32)
    np.testing.assert_array_equal(
        host.pointwise_conv2d_s8(params, shift, x, f, bias), pointwise_conv2d_s8(params, shift, x, f, bias)
    )


@pytest.mark.parametrize(("cin", "value"), [(256, -128), (255, 127), (1024, -128), (7, -128)])
def test_pointwise_large_accumulators(host: HostKernels, cin: int, value: int) -> None:
    x = np.full((1, 3, 3, cin), value, dtype=np.int8)
    f = np.full((5, 1, 1, cin), -128, dtype=np.int8)
    f[1] = 127
    bias = np.array([0, 2**29, -(2**29), 1, -1], dtype=np.int32)
    for shift in (_same(5, 0), _same(5, 10), _same(5, 20), _same(5, 31), np.array([31, 0, 20, 10, 1], np.int8)):
        np.testing.assert_array_equal(
            host.pointwise_conv2d_s8(ConvParams(), shift, x, f, bias),
            pointwise_conv2d_s8(ConvParams(), shift, x, f, bias),
        )


def test_pointwise_rounds_halves_up(host: HostKernels) -> None:
    x = np.array([1, -1, 3, -3], dtype=np.int8).reshape(1, 1, 4, 1)
    f = np.ones((1, 1, 1, 1), dtype=np.int8)
    out = host.pointwise_conv2d_s8(ConvParams(), _same(1, 1), x, f, None)
    assert out.ravel().tolist() == [1, 0, 2, -1]  # 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1


@pytest.mark.parametrize("seed", range(20))
def test_conv2d_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(3000 + seed)
    k = int(rng.choice([1, 3, 3]))
    stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    n, h, w = int(rng.integers(1, 3)), int(rng.integers(k, 12)), int(rng.integers(k, 12))
    cin, cout = (1, 4) if seed % 3 == 0 else (int(rng.integers(1, 9)), int(rng.integers(1, 9)))  # the stem's shape
    lo, hi = _act(rng)
    params = ConvParams(stride, stride, pad, pad, lo, hi)
    shift = _shifts(rng, cout, 12)
    x = rng.integers(-128, 128, (n, h, w, cin), dtype=np.int8)
    f = rng.integers(-128, 128, (cout, k, k, cin), dtype=np.int8)
    bias = rng.integers(-(2**16), 2**16, cout, dtype=np.int32)
    out_hw = (_out(h, k, stride, pad), _out(w, k, stride, pad))
    np.testing.assert_array_equal(
        host.conv2d_s8(params, shift, x, f, bias, out_hw), conv2d_s8(params, shift, x, f, bias, out_hw)
    )


@pytest.mark.parametrize("kernel", ["conv2d_s8", "conv2d_s8_w16", "depthwise_conv2d_s8", "pointwise_conv2d_s8"])
def test_each_channel_gets_its_own_shift(host: HostKernels, kernel: str) -> None:
    """Equal accumulators in every channel, unequal shifts: out[o] = round(acc / 2^shift[o]), eight different values
    (on the stem's fast path too: 1 input channel, 3x3, interior pixels)."""
    shift = np.array([12, 0, 31, 9, 14, 10, 13, 11], dtype=np.int8)
    channels, k = shift.size, 1 if kernel == "pointwise_conv2d_s8" else 3
    depthwise = kernel == "depthwise_conv2d_s8"
    x = np.full((1, 5, 6, channels if depthwise else 1), 100, dtype=np.int8)
    f = np.full((1, k, k, channels) if depthwise else (channels, k, k, 1), 57, np.int16 if "w16" in kernel else np.int8)
    acc = 52_300
    bias = np.full(channels, acc - k * k * 100 * 57, dtype=np.int32)
    twin = {
        "conv2d_s8": conv2d_s8,
        "conv2d_s8_w16": conv2d_s8_w16,
        "depthwise_conv2d_s8": depthwise_conv2d_s8,
        "pointwise_conv2d_s8": pointwise_conv2d_s8,
    }[kernel]
    args = (ConvParams(), shift, x, f, bias) if k == 1 else (ConvParams(), shift, x, f, bias, (3, 4))
    got = getattr(host, kernel)(*args)
    np.testing.assert_array_equal(got, twin(*args))
    expected = np.minimum((acc + (1 << shift.astype(np.int64)) // 2) >> shift, 127)  # [13, 127, 0, 102, 3, 51, 6, 26]
    np.testing.assert_array_equal(got, np.broadcast_to(expected, got.shape))
    assert len(set(expected.tolist())) == channels


def test_bad_arguments_are_refused(host: HostKernels) -> None:
    x = np.zeros((1, 4, 4, 8), dtype=np.int8)
    f1 = np.zeros((4, 1, 1, 8), dtype=np.int8)
    with pytest.raises(HostKernelError, match="depthwise_conv2d_s8"):
        host.depthwise_conv2d_s8(ConvParams(), _same(7, 0), x, np.zeros((1, 3, 3, 7), dtype=np.int8), None, (2, 2))
    with pytest.raises(HostKernelError):
        host.depthwise_conv2d_s8(
            ConvParams(stride_h=0), _same(8, 0), x, np.zeros((1, 3, 3, 8), dtype=np.int8), None, (2, 2)
        )
    with pytest.raises(HostKernelError):
        host.pointwise_conv2d_s8(ConvParams(stride_h=2), _same(4, 0), x, f1, None)
    with pytest.raises(HostKernelError):
        host.pointwise_conv2d_s8(ConvParams(), _same(4, 0), x, np.zeros((4, 1, 1, 9), dtype=np.int8), None)
    with pytest.raises(TypeError):
        host.pointwise_conv2d_s8(ConvParams(), _same(4, 0), x.astype(np.int16), f1, None)
    with pytest.raises(TypeError, match="out_shift"):  # one shift too few would read past the array
        host.pointwise_conv2d_s8(ConvParams(), _same(3, 0), x, f1, None)


@pytest.mark.parametrize("bad", [32, 40, -1])
def test_shifts_outside_0_to_31_are_refused(host: HostKernels, bad: int) -> None:
    """By all four kernels and their twins, whichever channel holds the bad shift."""
    x = np.zeros((1, 4, 4, 4), dtype=np.int8)
    shift = np.array([0, 5, bad, 31], dtype=np.int8)
    f1, f3 = np.zeros((4, 1, 1, 4), dtype=np.int8), np.zeros((4, 3, 3, 4), dtype=np.int8)
    calls = [
        ("conv2d_s8", conv2d_s8, (ConvParams(), shift, x, f3, None, (2, 2))),
        ("conv2d_s8_w16", conv2d_s8_w16, (ConvParams(), shift, x, f3.astype(np.int16), None, (2, 2))),
        ("depthwise_conv2d_s8", depthwise_conv2d_s8, (ConvParams(), shift, x, f3[:1], None, (2, 2))),
        ("pointwise_conv2d_s8", pointwise_conv2d_s8, (ConvParams(), shift, x, f1, None)),
    ]
    for name, twin, args in calls:
        with pytest.raises(HostKernelError, match=name):
            getattr(host, name)(*args)
        with pytest.raises(KernelRangeError, match="out_shift"):
            twin(*args)
