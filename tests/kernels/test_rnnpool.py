"""RNNPool on one patch: host C == twin (int8 and int16 outputs), scratch and bounds checks, and the twin
against a float RNNPool written here with explicit loops in MODELS.md's pass order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil.host_build import HostKernelError, HostKernels
from hil.kernels_ref import (
    FastGRNNWeights,
    RNNPoolParams,
    rnnpool_get_buffer_size,
    rnnpool_layer_s8,
    rnnpool_s8,
    rnnpool_wide_s8,
)
from hil.kernels_ref.fixed import KernelRangeError
from tests.kernels.conftest import random_cell, snr_db

X_EXP = -5  # int8 input map: real = q / 32
H1_FRAC = H2_FRAC = 14


def random_pool(
    rng: np.random.Generator, r: int, c: int, k: int, h1: int, h2: int, scale: float = 0.5, out_shift: int = 8
) -> tuple[RNNPoolParams, FastGRNNWeights, FastGRNNWeights, dict, dict]:
    p1, w1, cell1 = random_cell(rng, k, h1, X_EXP, 128, H1_FRAC, scale)
    p2, w2, cell2 = random_cell(rng, h1, h2, -H1_FRAC, 32768, H2_FRAC, scale)
    return RNNPoolParams(r, c, p1, p2, out_shift, -128, 127), w1, w2, cell1, cell2


@pytest.mark.parametrize("seed", range(12))
def test_rnnpool_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(7000 + seed)
    r, c, k = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 6))
    h1, h2 = int(rng.integers(1, 18)), int(rng.integers(1, 18))
    params, w1, w2, _, _ = random_pool(rng, r, c, k, h1, h2, float(rng.uniform(0.2, 1.5)), int(rng.integers(0, 12)))
    fmap = rng.integers(-128, 128, (1, r + int(rng.integers(0, 5)), c + int(rng.integers(0, 5)), k), dtype=np.int8)
    y0, x0 = int(rng.integers(0, fmap.shape[1] - r + 1)), int(rng.integers(0, fmap.shape[2] - c + 1))
    np.testing.assert_array_equal(
        host.rnnpool_wide_s8(params, fmap, y0, x0, w1, w2), rnnpool_wide_s8(params, fmap, y0, x0, w1, w2)
    )
    np.testing.assert_array_equal(
        host.rnnpool_s8(params, fmap, y0, x0, w1, w2), rnnpool_s8(params, fmap, y0, x0, w1, w2)
    )


def test_face_model_shape_and_layer_twin(host: HostKernels) -> None:
    """RNNPool(8, 8, 16, 16, 4) at stride 4 over a small map: every patch, C == the batched layer twin."""
    rng = np.random.default_rng(70)
    params, w1, w2, _, _ = random_pool(rng, 8, 8, 4, 16, 16)
    fmap = rng.integers(-128, 128, (1, 16, 20, 4), dtype=np.int8)
    layer = rnnpool_layer_s8(params, fmap, 4, w1, w2)
    assert layer.shape == (1, 3, 4, 64)
    for py in range(3):
        for px in range(4):
            np.testing.assert_array_equal(host.rnnpool_s8(params, fmap, 4 * py, 4 * px, w1, w2), layer[0, py, px])


def test_buffer_size_and_checks(host: HostKernels) -> None:
    rng = np.random.default_rng(71)
    params, w1, w2, _, _ = random_pool(rng, 8, 6, 4, 16, 12)
    assert (
        host.rnnpool_get_buffer_size(params, w1, w2)
        == rnnpool_get_buffer_size(params, w1, w2)
        == 4 * (6 * 8 * 16 + 2 * 16 + 2 * 12 + 8 * 12 + 16) + 2 * (8 * 16 + 2 * 16 + 2 * 12 + 4 * 12 + 4)
    )
    fmap = rng.integers(-128, 128, (1, 10, 10, 4), dtype=np.int8)
    size = rnnpool_get_buffer_size(params, w1, w2)
    with pytest.raises(HostKernelError):
        host.rnnpool_s8(params, fmap, 0, 0, w1, w2, scratch_bytes=size - 1)
    with pytest.raises(HostKernelError):
        host.rnnpool_s8(params, fmap, 3, 0, w1, w2)  # 3 + 8 rows > 10
    with pytest.raises(HostKernelError):
        host.rnnpool_s8(params, fmap[..., :3].copy(), 0, 0, w1, w2)  # k = 3, RNN1 takes 4
    with pytest.raises(HostKernelError):
        host.rnnpool_wide_s8(params, fmap, 0, 0, w2, w2)  # RNN1 input size 16 != k


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _float_run(cell: dict, sequence: list[np.ndarray]) -> np.ndarray:
    """A float FastGRNN from zero over a sequence, explicit loops (EdgeML layout: x @ W, h @ U)."""
    n_h = cell["U"].shape[0]
    h = np.zeros(n_h)
    for x in sequence:
        new = np.zeros(n_h)
        for j in range(n_h):
            pre = sum(x[i] * cell["W"][i, j] for i in range(x.size)) + sum(h[i] * cell["U"][i, j] for i in range(n_h))
            z = _sig(pre + cell["bg"][j])
            new[j] = z * h[j] + (_sig(cell["zeta"]) * (1 - z) + _sig(cell["nu"])) * math.tanh(pre + cell["bh"][j])
        h = new
    return h


def float_rnnpool(patch: np.ndarray, cell1: dict, cell2: dict) -> np.ndarray:
    """[r, c, k] float patch -> [rows fwd, rows bwd, cols fwd, cols bwd] (MODELS.md)."""
    r, c, _ = patch.shape
    rows = [_float_run(cell1, [patch[i, j] for j in range(c)]) for i in range(r)]  # RNN1 along each row
    cols = [_float_run(cell1, [patch[i, j] for i in range(r)]) for j in range(c)]  # RNN1 down each column
    return np.concatenate(
        [_float_run(cell2, rows), _float_run(cell2, rows[::-1]), _float_run(cell2, cols), _float_run(cell2, cols[::-1])]
    )


def test_twin_tracks_float_rnnpool() -> None:
    """RNNPool(8, 8, 16, 16, 4) on random patches, float with the float weights vs the twin's int16 states."""
    rng = np.random.default_rng(72)
    params, w1, w2, cell1, cell2 = random_pool(rng, 8, 8, 4, 16, 16)
    fmap = rng.integers(-128, 128, (1, 8, 8 * 6, 4), dtype=np.int8)
    fixed, reference = [], []
    for p in range(6):
        fixed.append(rnnpool_wide_s8(params, fmap, 0, 8 * p, w1, w2) * 2.0**-H2_FRAC)
        reference.append(float_rnnpool(fmap[0, :, 8 * p : 8 * p + 8].astype(np.float64) * 2.0**X_EXP, cell1, cell2))
    snr = snr_db(np.array(reference), np.array(fixed))
    print(f"RNNPool(8,8,16,16,4) fixed (int16 states) vs float SNR {snr:.1f} dB")
    assert snr >= 30, f"SNR {snr:.1f} dB"


def test_output_order_is_rows_then_columns() -> None:
    """Pixel (i, j) depends on i only: every column is the same sequence, so the column summaries are equal and
    columns fwd == columns bwd (output blocks 2 and 3), while the row summaries differ (blocks 0 and 1)."""
    rng = np.random.default_rng(73)
    params, w1, w2, _, _ = random_pool(rng, 4, 4, 2, 6, 5)
    column = rng.integers(-128, 128, (4, 2), dtype=np.int8)
    fmap = np.repeat(column[None, :, None, :], 4, axis=2)  # pixel (i, j) depends on i only: every row is constant
    out = rnnpool_wide_s8(params, fmap, 0, 0, w1, w2)
    rows_fwd, rows_bwd, cols_fwd, cols_bwd = out.reshape(4, 5)
    np.testing.assert_array_equal(cols_fwd, cols_bwd)  # all column summaries equal: direction cannot matter
    assert not np.array_equal(rows_fwd, rows_bwd)  # the row summaries differ: order matters there


def _c_rnnpool_layer(host: HostKernels, params, fmap, stride, w1, w2, offset, out_shape) -> tuple[int, np.ndarray]:
    """rnnpool_layer_s8 through ctypes with the host library's own argument structs."""
    import ctypes
    from ctypes import c_int32

    from hil.host_build.kernels import CContext, _dims, _ptr, _Weights

    size = rnnpool_get_buffer_size(params, w1, w2)
    scratch = np.zeros(size // 4 + 1, dtype=np.int32)
    dtype = np.int16 if params.out_bits == 16 else np.int8
    out = np.zeros(out_shape, dtype=dtype)
    c1, c2 = _Weights(w1), _Weights(w2)
    status = host.lib.rnnpool_layer_s8(
        ctypes.byref(CContext(scratch.ctypes.data, size)),
        ctypes.byref(host._rnnpool_params(params)),
        c_int32(stride),
        ctypes.byref(_dims(fmap.shape)),
        _ptr(fmap, np.int8),
        ctypes.byref(c1.struct),
        ctypes.byref(c2.struct),
        _ptr(offset, np.int16),
        ctypes.byref(_dims(out_shape)),
        _ptr(out, dtype),
    )
    return status, out


@pytest.mark.parametrize("seed", range(6))
def test_layer_kernel_matches_layer_twins(host: HostKernels, seed: int) -> None:
    """One rnnpool_layer_s8 call == the twins of the per-patch kernels strided over the map, with strides below,
    at and above the patch width (the projection ring reused, exactly filled, skipped over) and two batches."""
    from hil.kernels_ref import rnnpool_offset_layer_s8

    rng = np.random.default_rng(9300 + seed)
    r, c, k = int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 5))
    h1, h2 = int(rng.integers(1, 18)), int(rng.integers(1, 18))
    stride = int(rng.integers(1, c + 2))
    params, w1, w2, _, _ = random_pool(rng, r, c, k, h1, h2, float(rng.uniform(0.2, 1.5)), int(rng.integers(0, 12)))
    fmap = rng.integers(-128, 128, (2, r + int(rng.integers(0, 6)), c + int(rng.integers(0, 9)), k), dtype=np.int8)
    offset = rng.integers(-3000, 3000, 4 * h2, dtype=np.int16)
    for off, expected in (
        (None, rnnpool_layer_s8(params, fmap, stride, w1, w2)),
        (offset, rnnpool_offset_layer_s8(params, fmap, stride, w1, w2, offset)),
    ):
        status, got = _c_rnnpool_layer(host, params, fmap, stride, w1, w2, off, expected.shape)
        assert status == 0
        np.testing.assert_array_equal(got, expected)
    wrong = (2, 1 + (fmap.shape[1] - r) // stride + 1, 1, 4 * h2)
    assert _c_rnnpool_layer(host, params, fmap, stride, w1, w2, None, wrong)[0] != 0


@pytest.mark.parametrize("seed", range(4))
def test_layer_kernel_writes_int16_when_widened(host: HostKernels, seed: int) -> None:
    """out_bits 16: the C layer == its twin with and without an offset; at out_shift 0 the output is the int16
    states themselves (less the offset), clamped to int16's range, where int8 would have saturated."""
    from dataclasses import replace

    from hil.kernels_ref import rnnpool_offset_layer_s8
    from hil.kernels_ref.rnnpool import rnnpool_patches_wide

    rng = np.random.default_rng(9400 + seed)
    r, c, k, h1, h2, stride = 4, 3, 3, 6, 5, 2
    pool, w1, w2, _, _ = random_pool(rng, r, c, k, h1, h2, 1.0, int(rng.integers(0, 3)))
    params = replace(pool, act_min=-32768, act_max=32767, out_bits=16)
    fmap = rng.integers(-128, 128, (1, 8, 9, k), dtype=np.int8)
    offset = rng.integers(-3000, 3000, 4 * h2, dtype=np.int16)
    for off, expected in (
        (None, rnnpool_layer_s8(params, fmap, stride, w1, w2)),
        (offset, rnnpool_offset_layer_s8(params, fmap, stride, w1, w2, offset)),
    ):
        assert expected.dtype == np.int16
        status, got = _c_rnnpool_layer(host, params, fmap, stride, w1, w2, off, expected.shape)
        assert status == 0
        np.testing.assert_array_equal(got, expected)
    exact = replace(params, out_shift=0)
    windows = np.lib.stride_tricks.sliding_window_view(fmap, (r, c), axis=(1, 2))[:, ::stride, ::stride]
    states = rnnpool_patches_wide(exact, w1, w2, windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, r, c, k))
    status, got = _c_rnnpool_layer(host, exact, fmap, stride, w1, w2, None, (1, *windows.shape[1:3], 4 * h2))
    assert status == 0
    np.testing.assert_array_equal(got.reshape(-1, 4 * h2), states)
    assert np.abs(states).max() > 127


def test_per_patch_kernels_and_a_bad_width_are_refused(host: HostKernels) -> None:
    """rnnpool_s8 writes int8 only and the layer int8 or int16: out_bits 16 per patch (C and twin), or 12 anywhere,
    is refused."""
    from dataclasses import replace

    rng = np.random.default_rng(9500)
    pool, w1, w2, _, _ = random_pool(rng, 2, 2, 2, 3, 3)
    fmap = rng.integers(-128, 128, (1, 2, 2, 2), dtype=np.int8)
    with pytest.raises(HostKernelError):
        host.rnnpool_s8(replace(pool, out_bits=16), fmap, 0, 0, w1, w2)
    with pytest.raises(KernelRangeError, match="a per-patch RNNPool kernel writes int8"):
        rnnpool_s8(replace(pool, out_bits=16), fmap, 0, 0, w1, w2)
    status, _ = _c_rnnpool_layer(host, replace(pool, out_bits=12), fmap, 1, w1, w2, None, (1, 1, 1, 12))
    assert status != 0


def test_a_clamp_the_output_cannot_hold_is_refused(host: HostKernels) -> None:
    """An act clamp wider than out_bits (the int8 store would truncate 200 to -56) or out of order is refused by the
    layer kernel, the per-patch kernel and their twins alike."""
    from dataclasses import replace

    rng = np.random.default_rng(9600)
    pool, w1, w2, _, _ = random_pool(rng, 2, 2, 2, 3, 3)
    fmap = rng.integers(-128, 128, (1, 2, 2, 2), dtype=np.int8)
    for lo, hi in ((-128, 200), (-129, 127), (5, 4)):
        bad = replace(pool, act_min=lo, act_max=hi)
        status, _ = _c_rnnpool_layer(host, bad, fmap, 1, w1, w2, None, (1, 1, 1, 12))
        assert status != 0, (lo, hi)
        with pytest.raises(HostKernelError):
            host.rnnpool_s8(bad, fmap, 0, 0, w1, w2)
        with pytest.raises(KernelRangeError, match=f"clamp {lo}..{hi} outside int8"):
            rnnpool_layer_s8(bad, fmap, 1, w1, w2)
        with pytest.raises(KernelRangeError, match=f"clamp {lo}..{hi} outside int8"):
            rnnpool_s8(bad, fmap, 0, 0, w1, w2)
    wide = replace(pool, act_min=-128, act_max=200, out_bits=16)
    status, got = _c_rnnpool_layer(host, wide, fmap, 1, w1, w2, None, (1, 1, 1, 12))
    assert status == 0
    np.testing.assert_array_equal(got, rnnpool_layer_s8(wide, fmap, 1, w1, w2))
