"""Convolution kernels: host C == numpy twin bit for bit on random shapes, strides, shifts and extreme values."""

from __future__ import annotations

import numpy as np
import pytest

from hil.host_build import HostKernelError, HostKernels
from hil.kernels_ref import ConvParams, conv2d_s8, depthwise_conv2d_s8, pointwise_conv2d_s8


def _out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def _act(rng: np.random.Generator) -> tuple[int, int]:
    return [(-128, 127), (0, 127), (0, 48), (-20, 20)][rng.integers(4)]


@pytest.mark.parametrize("seed", range(40))
def test_depthwise_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    k = int(rng.choice([3, 3, 3, 1, 5]))
    stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, k // 2 + 1))
    n, h, w, c = int(rng.integers(1, 3)), int(rng.integers(k, 14)), int(rng.integers(k, 14)), int(rng.integers(1, 21))
    lo, hi = _act(rng)
    params = ConvParams(stride, stride, pad, pad, int(rng.integers(0, 13)), lo, hi)
    x = rng.integers(-128, 128, (n, h, w, c), dtype=np.int8)
    f = rng.integers(-128, 128, (1, k, k, c), dtype=np.int8)
    bias = None if seed % 7 == 0 else rng.integers(-(2**20), 2**20, c, dtype=np.int32)
    out_hw = (_out(h, k, stride, pad) + int(rng.integers(0, 2)), _out(w, k, stride, pad))  # sometimes one row more
    np.testing.assert_array_equal(
        host.depthwise_conv2d_s8(params, x, f, bias, out_hw), depthwise_conv2d_s8(params, x, f, bias, out_hw)
    )


def test_depthwise_extremes_and_clamps(host: HostKernels) -> None:
    for value in (-128, 127):
        x = np.full((1, 7, 9, 12), value, dtype=np.int8)
        f = np.full((1, 3, 3, 12), -128, dtype=np.int8)
        bias = np.array([2**30, -(2**30)] * 6, dtype=np.int32)
        for shift, (lo, hi) in ((0, (-128, 127)), (7, (0, 6 << 4)), (31, (-128, 127))):
            params = ConvParams(2, 2, 1, 1, shift, lo, hi)
            np.testing.assert_array_equal(
                host.depthwise_conv2d_s8(params, x, f, bias, (4, 5)), depthwise_conv2d_s8(params, x, f, bias, (4, 5))
            )


@pytest.mark.parametrize("seed", range(40))
def test_pointwise_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    n, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 8)), int(rng.integers(1, 8))
    cin, cout = int(rng.integers(1, 70)), int(rng.integers(1, 34))
    lo, hi = _act(rng)
    params = ConvParams(out_shift=int(rng.integers(0, 14)), act_min=lo, act_max=hi)
    x = rng.integers(-128, 128, (n, h, w, cin), dtype=np.int8)
    f = rng.integers(-128, 128, (cout, 1, 1, cin), dtype=np.int8)
    bias = None if seed % 5 == 0 else rng.integers(-(2**24), 2**24, cout, dtype=np.int32)
    np.testing.assert_array_equal(host.pointwise_conv2d_s8(params, x, f, bias), pointwise_conv2d_s8(params, x, f, bias))


@pytest.mark.parametrize(("cin", "value"), [(256, -128), (255, 127), (1024, -128), (7, -128)])
def test_pointwise_large_accumulators(host: HostKernels, cin: int, value: int) -> None:
    x = np.full((1, 3, 3, cin), value, dtype=np.int8)
    f = np.full((5, 1, 1, cin), -128, dtype=np.int8)
    f[1] = 127
    bias = np.array([0, 2**29, -(2**29), 1, -1], dtype=np.int32)
    for shift in (0, 10, 20, 31):
        params = ConvParams(out_shift=shift)
        np.testing.assert_array_equal(
            host.pointwise_conv2d_s8(params, x, f, bias), pointwise_conv2d_s8(params, x, f, bias)
        )


def test_pointwise_rounds_halves_up(host: HostKernels) -> None:
    x = np.array([1, -1, 3, -3], dtype=np.int8).reshape(1, 1, 4, 1)
    f = np.ones((1, 1, 1, 1), dtype=np.int8)
    out = host.pointwise_conv2d_s8(ConvParams(out_shift=1), x, f, None)
    assert out.ravel().tolist() == [1, 0, 2, -1]  # 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1


@pytest.mark.parametrize("seed", range(20))
def test_conv2d_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(3000 + seed)
    k = int(rng.choice([1, 3, 3]))
    stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    n, h, w = int(rng.integers(1, 3)), int(rng.integers(k, 12)), int(rng.integers(k, 12))
    cin, cout = (1, 4) if seed % 3 == 0 else (int(rng.integers(1, 9)), int(rng.integers(1, 9)))  # the stem's shape
    lo, hi = _act(rng)
    params = ConvParams(stride, stride, pad, pad, int(rng.integers(0, 12)), lo, hi)
    x = rng.integers(-128, 128, (n, h, w, cin), dtype=np.int8)
    f = rng.integers(-128, 128, (cout, k, k, cin), dtype=np.int8)
    bias = rng.integers(-(2**16), 2**16, cout, dtype=np.int32)
    out_hw = (_out(h, k, stride, pad), _out(w, k, stride, pad))
    np.testing.assert_array_equal(host.conv2d_s8(params, x, f, bias, out_hw), conv2d_s8(params, x, f, bias, out_hw))


def test_bad_arguments_are_refused(host: HostKernels) -> None:
    x = np.zeros((1, 4, 4, 8), dtype=np.int8)
    with pytest.raises(HostKernelError, match="depthwise_conv2d_s8"):
        host.depthwise_conv2d_s8(ConvParams(), x, np.zeros((1, 3, 3, 7), dtype=np.int8), None, (2, 2))
    with pytest.raises(HostKernelError):
        host.depthwise_conv2d_s8(ConvParams(stride_h=0), x, np.zeros((1, 3, 3, 8), dtype=np.int8), None, (2, 2))
    with pytest.raises(HostKernelError):
        host.pointwise_conv2d_s8(ConvParams(stride_h=2), x, np.zeros((4, 1, 1, 8), dtype=np.int8), None)
    with pytest.raises(HostKernelError):
        host.pointwise_conv2d_s8(ConvParams(), x, np.zeros((4, 1, 1, 9), dtype=np.int8), None)
    with pytest.raises(HostKernelError):
        host.pointwise_conv2d_s8(ConvParams(out_shift=40), x, np.zeros((4, 1, 1, 8), dtype=np.int8), None)
    with pytest.raises(TypeError):
        host.pointwise_conv2d_s8(ConvParams(), x.astype(np.int16), np.zeros((4, 1, 1, 8), dtype=np.int8), None)
