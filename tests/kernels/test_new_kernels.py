"""rnnpool_offset_s8 and conv2d_s8_w16 (the compiler's precision fixes): host C == numpy twin, and their checks.
rnnpool_offset_s8 is called through ctypes here, with the host library's own argument structs."""

from __future__ import annotations

import ctypes
from ctypes import c_int32
from dataclasses import replace

import numpy as np
import pytest

from hil.host_build import HostKernelError, HostKernels
from hil.host_build.kernels import CContext, _dims, _ptr, _Weights
from hil.kernels_ref import ConvParams, conv2d_s8, rnnpool_get_buffer_size, rnnpool_wide_s8
from hil.kernels_ref.conv_w16 import conv2d_s8_w16
from hil.kernels_ref.fixed import KernelRangeError
from hil.kernels_ref.rnnpool_offset import rnnpool_offset_layer_s8, rnnpool_offset_s8
from tests.kernels.test_rnnpool import random_pool


def _c_rnnpool_offset(host: HostKernels, params, fmap, y0, x0, w1, w2, offset) -> tuple[int, np.ndarray]:
    size = rnnpool_get_buffer_size(params, w1, w2)
    scratch = np.zeros(size // 4 + 1, dtype=np.int32)
    out = np.zeros(4 * w2.hidden_size, dtype=np.int8)
    c1, c2 = _Weights(w1), _Weights(w2)
    status = host.lib.rnnpool_offset_s8(
        ctypes.byref(CContext(scratch.ctypes.data, size)),
        ctypes.byref(host._rnnpool_params(params)),
        ctypes.byref(_dims(fmap.shape)),
        _ptr(fmap, np.int8),
        c_int32(y0),
        c_int32(x0),
        ctypes.byref(c1.struct),
        ctypes.byref(c2.struct),
        _ptr(offset, np.int16),
        _ptr(out, np.int8),
    )
    return status, out


@pytest.mark.parametrize("seed", range(8))
def test_rnnpool_offset_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(9100 + seed)
    r, c, k = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 6))
    h1, h2 = int(rng.integers(1, 18)), int(rng.integers(1, 18))
    params, w1, w2, _, _ = random_pool(rng, r, c, k, h1, h2, float(rng.uniform(0.2, 1.5)), int(rng.integers(0, 12)))
    fmap = rng.integers(-128, 128, (1, r + 2, c + 3, k), dtype=np.int8)
    y0, x0 = int(rng.integers(0, 3)), int(rng.integers(0, 4))
    # offsets near the states (as the compiler's midranges are) and anywhere in int16, to reach the clamps
    states = rnnpool_wide_s8(params, fmap, y0, x0, w1, w2).astype(np.int32)
    near = np.clip(states + rng.integers(-300, 300, states.shape), -32768, 32767).astype(np.int16)
    for offset in (near, rng.integers(-32768, 32768, states.shape, dtype=np.int16)):
        status, got = _c_rnnpool_offset(host, params, fmap, y0, x0, w1, w2, offset)
        assert status == 0
        np.testing.assert_array_equal(got, rnnpool_offset_s8(params, fmap, y0, x0, w1, w2, offset))


def test_rnnpool_offset_layer_twin_and_checks(host: HostKernels) -> None:
    rng = np.random.default_rng(9200)
    params, w1, w2, _, _ = random_pool(rng, 4, 4, 3, 6, 5, out_shift=6)
    fmap = rng.integers(-128, 128, (1, 10, 12, 3), dtype=np.int8)
    offset = rng.integers(-2000, 2000, 20, dtype=np.int16)
    layer = rnnpool_offset_layer_s8(params, fmap, 2, w1, w2, offset)
    assert layer.shape == (1, 4, 5, 20)
    for py in range(4):
        for px in range(5):
            status, got = _c_rnnpool_offset(host, params, fmap, 2 * py, 2 * px, w1, w2, offset)
            assert status == 0
            np.testing.assert_array_equal(got, layer[0, py, px])
    assert _c_rnnpool_offset(host, params, fmap, 7, 0, w1, w2, offset)[0] != 0  # patch leaves the map
    with pytest.raises(KernelRangeError):
        rnnpool_offset_s8(params, fmap, 0, 0, w1, w2, offset.astype(np.int32))


@pytest.mark.parametrize("seed", range(10))
def test_conv2d_s8_w16_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(9300 + seed)
    n, h, w, cin = 1 + seed % 2, int(rng.integers(3, 12)), int(rng.integers(3, 12)), int(rng.integers(1, 5))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    params = ConvParams(
        int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(0, kh)), int(rng.integers(0, kw))
    )
    params = replace(params, pad_value=int(rng.integers(-128, 128)) if seed % 2 else 0)
    out_hw = ((h + 2 * params.pad_h - kh) // params.stride_h + 1, (w + 2 * params.pad_w - kw) // params.stride_w + 1)
    x = rng.integers(-128, 128, (n, h, w, cin), dtype=np.int8)
    filt = rng.integers(-32768, 32768, (int(rng.integers(1, 6)), kh, kw, cin), dtype=np.int16)
    shift = rng.integers(8, 20, filt.shape[0]).astype(np.int8)
    bias = rng.integers(-(2**29), 2**29, filt.shape[0], dtype=np.int32) if seed % 3 else None
    got = host.conv2d_s8_w16(params, shift, x, filt, bias, out_hw)
    np.testing.assert_array_equal(got, conv2d_s8_w16(params, shift, x, filt, bias, out_hw))


@pytest.mark.parametrize(("stride", "pad_value"), [(1, 0), (2, 0), (2, -11)])
def test_conv2d_s8_w16_stem_fast_path_matches_twin(host: HostKernels, stride: int, pad_value: int) -> None:
    """1 input channel, 3x3, padding 1 (the stem): interior pixels take the fast path, borders the loop (and read
    the pad value there)."""
    rng = np.random.default_rng(9350 + stride)
    params = ConvParams(stride, stride, 1, 1, 0, 96, pad_value)
    shift = np.array([14, 12, 17, 15], dtype=np.int8)
    x = rng.integers(-128, 128, (1, 13, 16, 1), dtype=np.int8)
    filt = rng.integers(-32768, 32768, (4, 3, 3, 1), dtype=np.int16)
    bias = rng.integers(-(2**29), 2**29, 4, dtype=np.int32)
    out_hw = ((13 - 1) // stride + 1, (16 - 1) // stride + 1)
    got = host.conv2d_s8_w16(params, shift, x, filt, bias, out_hw)
    np.testing.assert_array_equal(got, conv2d_s8_w16(params, shift, x, filt, bias, out_hw))


# in_c > 1 (the column path): every in_c and kernel size whose fan-in fits 256, strides 1 and 2, each with an odd or
# even fan-in and output channel count of its own (out_c 1 included), bias or none, and a padding that cuts taps
_COLUMN_SHAPES = [(cin, k) for cin in (2, 3, 4, 8) for k in (1, 3, 5, 7) if k * k * cin <= 256]


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(("cin", "k"), _COLUMN_SHAPES)
def test_conv2d_s8_w16_columns_match_twin(host: HostKernels, cin: int, k: int, stride: int) -> None:
    """in_c > 1: host C == twin, padding k // 2 (1 for 1x1: border outputs read pad taps alone), pad_value -11,
    0, 127, -128 or 37 by turns, extreme values at the first row of the input and at channel 0's weights."""
    index = _COLUMN_SHAPES.index((cin, k)) * 2 + stride - 1
    rng = np.random.default_rng(9500 + index)
    n, h, w = 1 + index % 2, int(rng.integers(k + 2, k + 9)), int(rng.integers(k + 2, k + 10))
    cout = (1, 2, 3, 4, 5, 7, 16)[index % 7]
    pad = k // 2 if k > 1 else 1
    pad_value = (-11, 0, 127, -128, 37)[index % 5]
    params = ConvParams(stride, stride, pad, pad, -128, 127, pad_value)
    out_hw = ((h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
    x = rng.integers(-128, 128, (n, h, w, cin), dtype=np.int8)
    x[:, 0] = np.where(np.arange(w * cin).reshape(w, cin) % 3 == 0, -128, 127)
    filt = rng.integers(-32768, 32768, (cout, k, k, cin), dtype=np.int16)
    filt[0] = np.where(rng.integers(0, 2, filt[0].shape) == 0, -32767, 32767)
    shift = (rng.integers(13, 17, cout) + int(np.log2(k * k * cin)) // 2).astype(np.int8)
    bias = rng.integers(-(2**22), 2**22, cout, dtype=np.int32) if index % 3 else None
    got = host.conv2d_s8_w16(params, shift, x, filt, bias, out_hw)
    np.testing.assert_array_equal(got, conv2d_s8_w16(params, shift, x, filt, bias, out_hw))
    assert len(np.unique(got)) > 4  # outputs spread, not all clamped


@pytest.mark.parametrize(("cin", "k", "cout"), [(16, 4, 3), (4, 8, 2), (2, 11, 1), (3, 9, 5)])
def test_conv2d_s8_w16_columns_at_the_int32_bound(host: HostKernels, cin: int, k: int, cout: int) -> None:
    """Fan-ins 256, 242 and the odd 243 of -128 inputs and pad taps, weights at -32768 / 32767 and |bias| just below
    2^30: sums reach 2^31 - 1 and -(2^31 - 2^15 - 1), within the stated bound; shift 31 turns them into +-1 (a sum
    that wrapped would give the other sign), 24 into the clamps, 0 into -128 / 127."""
    x = np.full((1, k + 1, k + 2, cin), -128, dtype=np.int8)
    x[0, -1, -1] = 127
    filt = np.full((cout, k, k, cin), -32768, dtype=np.int16)
    filt[1::2] = 32767
    bias = np.where(np.arange(cout) % 2 == 0, 2**30 - 1, -(2**30) + 1).astype(np.int32)
    params = ConvParams(1, 1, 1, 1, -128, 127, -128)
    out_hw = (4, 5)
    for shift_value in (31, 24, 0):
        shift = np.full(cout, shift_value, dtype=np.int8)
        got = host.conv2d_s8_w16(params, shift, x, filt, bias, out_hw)
        want = conv2d_s8_w16(params, shift, x, filt, bias, out_hw)
        np.testing.assert_array_equal(got, want)
        if shift_value == 31 and k * k * cin == 256:
            assert want[0, 0, 0, 0] == 1 and (cout < 2 or want[0, 0, 0, 1] == -1)


def test_conv2d_s8_w16_columns_outside_the_input(host: HostKernels) -> None:
    """Windows wholly outside the input (padding past the kernel, an output larger than the input needs) read
    pad_value alone, as the twin."""
    rng = np.random.default_rng(9600)
    x = rng.integers(-128, 128, (1, 3, 4, 3), dtype=np.int8)
    filt = rng.integers(-32768, 32768, (5, 3, 3, 3), dtype=np.int16)
    bias = rng.integers(-(2**29), 2**29, 5, dtype=np.int32)
    shift = rng.integers(14, 20, 5).astype(np.int8)
    params = ConvParams(2, 1, 4, 5, -128, 127, -77)
    out_hw = (6, 12)
    got = host.conv2d_s8_w16(params, shift, x, filt, bias, out_hw)
    np.testing.assert_array_equal(got, conv2d_s8_w16(params, shift, x, filt, bias, out_hw))


def test_conv2d_s8_w16_is_conv2d_s8_on_int8_weights(host: HostKernels) -> None:
    """int8 weights widened to int16 give conv2d_s8's bits (same formula, same rounding)."""
    rng = np.random.default_rng(9400)
    params = ConvParams(2, 2, 1, 1, 0, 96)
    shift = np.array([7, 5, 9, 6], dtype=np.int8)
    x = rng.integers(-128, 128, (1, 15, 17, 1), dtype=np.int8)
    filt = rng.integers(-128, 128, (4, 3, 3, 1), dtype=np.int8)
    bias = rng.integers(-5000, 5000, 4, dtype=np.int32)
    got = host.conv2d_s8_w16(params, shift, x, filt.astype(np.int16), bias, (8, 9))
    np.testing.assert_array_equal(got, conv2d_s8(params, shift, x, filt, bias, (8, 9)))


def test_conv2d_s8_w16_pads_with_its_pad_value(host: HostKernels) -> None:
    """An input stored as x - offset (offset 11) padded with -11 gives the bits of x itself padded with zeros, when
    the bias takes the offset's response to every tap: the input offset of a compiled stem (centre.centre_input)."""
    rng = np.random.default_rng(9450)
    x = rng.integers(-117, 117, (1, 9, 10, 1), dtype=np.int8)
    filt = rng.integers(-3000, 3000, (4, 3, 3, 1), dtype=np.int16)
    bias = rng.integers(-5000, 5000, 4, dtype=np.int32)
    shift = np.array([7, 5, 9, 6], dtype=np.int8)
    plain = ConvParams(2, 2, 1, 1)
    want = conv2d_s8_w16(plain, shift, x, filt, bias, (5, 5))
    folded = bias + 11 * filt.reshape(4, -1).sum(axis=1).astype(np.int32)
    centred = (x.astype(np.int16) - 11).astype(np.int8)
    offset = replace(plain, pad_value=-11)
    np.testing.assert_array_equal(host.conv2d_s8_w16(offset, shift, centred, filt, folded, (5, 5)), want)
    np.testing.assert_array_equal(conv2d_s8_w16(offset, shift, centred, filt, folded, (5, 5)), want)
    with pytest.raises(HostKernelError):
        host.conv2d_s8(offset, shift, centred, filt.astype(np.int8), folded, (5, 5))
    with pytest.raises(KernelRangeError):
        conv2d_s8(offset, shift, centred, filt.astype(np.int8), folded, (5, 5))


def test_conv2d_s8_w16_refuses_a_fan_in_above_256(host: HostKernels) -> None:
    x = np.zeros((1, 4, 4, 29), dtype=np.int8)
    filt = np.zeros((2, 3, 3, 29), dtype=np.int16)  # 261 taps
    shift = np.zeros(2, dtype=np.int8)
    with pytest.raises(HostKernelError):
        host.conv2d_s8_w16(ConvParams(), shift, x, filt, None, (2, 2))
    with pytest.raises(KernelRangeError):
        conv2d_s8_w16(ConvParams(), shift, x, filt, None, (2, 2))
