"""add_s8, add_a16, l2norm_s8 and layer_norm_s8: host C == numpy twin, the twins' L2Norm and LayerNorm close to
the float ones, and layer_norm_s8's refusals."""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hil.host_build import HostKernelError, HostKernels
from hil.host_build.kernels import _dims, _ptr, _struct
from hil.kernels_ref import (
    AddA16Params,
    AddParams,
    L2NormParams,
    LayerNormParams,
    add_a16,
    add_s8,
    l2norm_s8,
    layer_norm_s8,
)
from hil.kernels_ref.eltwise import l2norm_inverse_norm
from hil.kernels_ref.fixed import KernelRangeError
from tests.kernels.conftest import snr_db


@pytest.mark.parametrize("seed", range(30))
def test_add_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(4000 + seed)
    shape = tuple(int(s) for s in rng.integers(1, 9, 4))
    params = AddParams(
        int(rng.integers(0, 23)),
        int(rng.integers(0, 23)),
        int(rng.integers(0, 32)),
        *[(-128, 127), (0, 127), (-3, 90)][seed % 3],
    )
    a = rng.integers(-128, 128, shape, dtype=np.int8)
    b = rng.integers(-128, 128, shape, dtype=np.int8)
    np.testing.assert_array_equal(host.add_s8(params, a, b), add_s8(params, a, b))


def test_add_extremes(host: HostKernels) -> None:
    a = np.array([-128, -128, 127, 127, 0, -1, 1], dtype=np.int8)
    b = np.array([-128, 127, 127, -128, -1, 0, 0], dtype=np.int8)
    for params in (AddParams(22, 22, 0), AddParams(22, 22, 31), AddParams(0, 0, 1), AddParams(3, 0, 2)):
        np.testing.assert_array_equal(host.add_s8(params, a, b), add_s8(params, a, b))
    assert add_s8(AddParams(0, 0, 1), a, b).tolist() == [-128, 0, 127, 0, 0, 0, 1]  # -0.5 -> 0, 0.5 -> 1
    with pytest.raises(HostKernelError):
        host.add_s8(AddParams(23, 0, 0), a, b)


WIDTHS = [(a, b, out) for a in (8, 16) for b in (8, 16) for out in (8, 16)]


def _extremes(bits: int, count: int, rng: np.random.Generator) -> np.ndarray:
    top = 2 ** (bits - 1)
    values = np.concatenate([[-top, top - 1, -top, top - 1, 0, -1, 1], rng.integers(-top, top, count)])
    return values[:count].astype(f"int{bits}")


@pytest.mark.parametrize(("a_bits", "b_bits", "out_bits"), WIDTHS)
def test_add_a16_matches_twin_at_every_pairing_of_widths(host: HostKernels, a_bits: int, b_bits: int, out_bits: int):
    """Random shifts up to each side's bound (30 - bits: each term within 2^29) and clamps inside the output's range,
    the extremes of each width included; add_a16 at all-int8 equals add_s8."""
    rng = np.random.default_rng(a_bits * 100 + b_bits * 10 + out_bits)
    top = 2 ** (out_bits - 1)
    for trial in range(12):
        shape = tuple(int(s) for s in rng.integers(2, 7, 4))  # 16 values or more: the extremes fit
        a = _extremes(a_bits, int(np.prod(shape)), rng).reshape(shape)
        b = _extremes(b_bits, int(np.prod(shape)), rng)[::-1].copy().reshape(shape)
        clamp = [(-top, top - 1), (0, top - 1), (-3, 90)][trial % 3]
        shifts = (30 - a_bits, 30 - b_bits, 31) if trial == 0 else (0, 0, 0) if trial == 1 else None
        a_shift, b_shift, out_shift = shifts or (
            int(rng.integers(0, 31 - a_bits)),
            int(rng.integers(0, 31 - b_bits)),
            int(rng.integers(0, 32)),
        )
        params = AddA16Params(a_shift, b_shift, out_shift, *clamp, a_bits, b_bits, out_bits)
        expected = add_a16(params, a, b)
        assert expected.dtype == np.dtype(f"int{out_bits}")
        np.testing.assert_array_equal(host.add_a16(params, a, b), expected)
        if a_bits == b_bits == out_bits == 8:
            np.testing.assert_array_equal(expected, add_s8(AddParams(a_shift, b_shift, out_shift, *clamp), a, b))


def test_add_a16_refuses_shifts_past_its_bound_and_bad_widths(host: HostKernels) -> None:
    a = np.zeros(4, dtype=np.int16)
    b = np.zeros(4, dtype=np.int8)
    for params in (
        AddA16Params(15, 0, 0, -32768, 32767, 16, 8, 16),  # an int16 term shifted 15 can pass 2^29
        AddA16Params(0, 23, 0, -32768, 32767, 16, 8, 16),
        AddA16Params(0, 0, 0, -32768, 32767, 16, 8, 8),  # the clamp past the int8 output
    ):
        with pytest.raises(HostKernelError):
            host.add_a16(params, a, b)
    with pytest.raises(TypeError, match="add_a16 takes int16 and int8 arrays"):
        add_a16(AddA16Params(0, 0, 0, a_bits=16), b, b)


@pytest.mark.parametrize("seed", range(30))
def test_l2norm_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(5000 + seed)
    c = int(rng.integers(1, 130))
    x = rng.integers(-128, 128, (1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), c), dtype=np.int8)
    x[0, 0, 0] = 0  # an all-zero pixel
    if x.shape[2] > 1:
        x[0, 0, 1] = 0
        x[0, 0, 1, -1] = int(rng.choice([-128, 1, -1, 127]))  # one non-zero channel: the largest e
    gamma = rng.integers(-32768, 32768, c, dtype=np.int16)
    params = L2NormParams(int(rng.integers(-16, 33)), *[(-128, 127), (0, 127)][seed % 2])
    np.testing.assert_array_equal(host.l2norm_s8(params, x, gamma), l2norm_s8(params, x, gamma))


def test_l2norm_extremes(host: HostKernels) -> None:
    x = np.full((2, 1, 1, 4096), -128, dtype=np.int8)  # ss = 2^26
    x[1] = 127
    gamma = np.full(4096, -32768, dtype=np.int16)
    for shift in (-16, 0, 32):
        params = L2NormParams(shift)
        np.testing.assert_array_equal(host.l2norm_s8(params, x, gamma), l2norm_s8(params, x, gamma))
    with pytest.raises(HostKernelError):
        host.l2norm_s8(L2NormParams(-17), x, gamma)


def test_l2norm_twin_close_to_float() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, (1, 20, 20, 32), dtype=np.int8)
    gamma_real, gamma_exp, out_exp = 10.0, -11, -3  # SSD's first scale: 10 * 2^11 = 20480 fits int16
    gamma = np.full(32, round(gamma_real * 2.0**-gamma_exp), dtype=np.int16)
    out = l2norm_s8(L2NormParams(out_exp - gamma_exp), x, gamma).astype(np.float64) * 2.0**out_exp
    xf = x.astype(np.float64)
    expected = np.clip(
        xf / np.sqrt((xf**2).sum(-1, keepdims=True)) * gamma_real, -128 * 2.0**out_exp, 127 * 2.0**out_exp
    )
    assert np.abs(out - expected).max() <= 0.5 * 2.0**out_exp + 1e-3  # within half an output step


def _layer_norm_by_the_formulas(params: LayerNormParams, x: list[int], gamma: list[int], beta: list[int]) -> list[int]:
    """One pixel by hil_kernels.h's formulas in Python integers (exact at any size): what the twin must equal."""
    c, s, q = len(x), sum(x), sum(v * v for v in x)
    ss = c * (c * q - s * s) + params.eps
    assert ss == sum((c * v - s) ** 2 for v in x) + params.eps < 2**50

    def shifted(v: int, k: int) -> int:
        return v if k <= 0 else (v + (1 << (k - 1))) >> k

    out = [shifted(b, 8) for b in beta]
    if ss:
        e = 0
        while (ss << e if e >= 0 else ss >> -e) >= 2**30:
            e -= 2
        while (ss << e if e >= 0 else ss >> -e) < 2**28:
            e += 2
        n = math.isqrt(ss << e if e >= 0 else ss >> -e)
        assert 2**14 <= n < 2**15
        r, sh = 2**30 // n, 30 - e // 2 + params.out_shift
        out = [shifted(shifted((c * v - s) * g * r, sh - 8) + b, 8) for v, g, b in zip(x, gamma, beta, strict=True)]
    return [min(max(v, params.act_min), params.act_max) for v in out]


def _layer_norm_paths(params: LayerNormParams, x: np.ndarray) -> set[str]:
    """Which of layer_norm_s8.c's per-channel loops the pixels of x take (k = sh - 8): the rounded high word
    (k 2..32, out_shift >= -6), the floored high word (k 33..55), or the plain 64-bit formula (the rest)."""
    v = x.reshape(-1, x.shape[-1]).astype(np.int64)
    c, s = v.shape[-1], v.sum(-1)
    ss = c * (c * (v * v).sum(-1) - s * s) + params.eps
    k = 22 - l2norm_inverse_norm(np.maximum(ss, 1))[1] // 2 + params.out_shift
    paths = np.where((k >= 2) & (k <= 32) & (params.out_shift >= -6), "high word rounded", "64-bit")
    return set(np.where((k >= 33) & (k <= 55), "high word floored", paths)[ss != 0].tolist())


def _check_layer_norm(host: HostKernels, params: LayerNormParams, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray):
    """host C == twin, and the twin == the formulas pixel by pixel; returns the twin's output."""
    expected = layer_norm_s8(params, x, gamma, beta)
    np.testing.assert_array_equal(host.layer_norm_s8(params, x, gamma, beta), expected)
    g, b = gamma.tolist(), beta.tolist()
    for pixel, got in zip(x.reshape(-1, x.shape[-1]).tolist(), expected.reshape(-1, x.shape[-1]).tolist(), strict=True):
        assert got == _layer_norm_by_the_formulas(params, pixel, g, b)
    return expected


@pytest.mark.parametrize("channels", [1, 3, 16, 64, 4096])
def test_layer_norm_matches_twin(host: HostKernels, channels: int) -> None:
    """Every out_shift -8..29 on a [2, 3, C] map of random pixels with, among them, a constant pixel (ss == eps:
    with eps 0 the beta-only path), one half -128 and half 127 (the largest spread), one channel apart from the rest
    (the largest |d| against sqrt(ss)) and one of small spread; random gamma over all of int16 (-32768 in channel
    0), beta at random magnitudes up to int32's, eps 0, 1, random or int32's largest, clamps inside int8."""
    rng = np.random.default_rng(5100 + channels)
    clamps = [(-128, 127), (-100, 90), (0, 127), (-5, 5)]
    for out_shift in range(-8, 30):
        x = rng.integers(-128, 128, (2, 3, channels), dtype=np.int8)
        x[0, 0] = rng.integers(-128, 128)
        x[0, 1] = np.where(np.arange(channels) % 2 == 0, -128, 127)
        x[0, 2], x[0, 2, -1] = -128, 127
        x[1, 0] = rng.integers(-1, 2, channels)
        gamma = rng.integers(-32768, 32768, channels, dtype=np.int16)
        gamma[0] = -32768
        bound = 2 ** int(rng.choice([8, 16, 24, 31]))
        beta = rng.integers(-bound, bound, channels, dtype=np.int64).clip(-(2**31), 2**31 - 1).astype(np.int32)
        eps = int(rng.choice([0, 1, int(rng.integers(0, 2**20)), 2**31 - 1]))
        params = LayerNormParams(out_shift, eps, *clamps[out_shift % len(clamps)])
        _check_layer_norm(host, params, x, gamma, beta)


def test_layer_norm_extremes(host: HostKernels) -> None:
    """The int8 limits on 4096 channels (all -128, all 127, half and half, one channel apart, random -128/127),
    gamma and beta at the int16 and int32 limits, eps 0, 1 and int32's largest, out_shift -8..29's ends and
    between; the one product gamma * r = -2^31 (gamma -32768 with r = 2^16: ss = 4); the largest ss (the half and
    half pixel: e = -20, the smallest e there is); and each of the C's three per-channel loops taken."""
    x = np.full((5, 4096), -128, dtype=np.int8)
    x[1] = 127
    x[2, ::2] = 127
    x[3, 0] = 127
    x[4] = np.where(np.random.default_rng(5200).integers(0, 2, 4096) == 1, 127, -128)
    assert l2norm_inverse_norm(np.array([4096**2 * (x[2].astype(np.int64) ** 2).sum() - 4096 * 2048**2]))[1] == -20
    paths = set()
    for gamma_values, beta_values in (([-32768], [2**31 - 1, -(2**31)]), ([-32768, 32767], [0]), ([32767], [-256])):
        gamma = np.resize(np.array(gamma_values, np.int16), 4096)
        beta = np.resize(np.array(beta_values, np.int32), 4096)
        for out_shift in (-8, -7, -6, 0, 9, 23, 24, 29):
            for eps in (0, 1, 2**31 - 1):
                params = LayerNormParams(out_shift, eps)
                _check_layer_norm(host, params, x, gamma, beta)
                paths |= _layer_norm_paths(params, x)
    assert paths == {"high word rounded", "high word floored", "64-bit"}

    x, gamma, beta = np.array([[0, 1], [1, 0]], np.int8), np.array([-32768, -32768], np.int16), np.zeros(2, np.int32)
    r, e = l2norm_inverse_norm(np.array([4]))  # ss = 2 * (2 * 1 - 1) + 2
    assert (r, e) == (2**16, 26)
    for out_shift in (-8, 8, 29):
        got = _check_layer_norm(host, LayerNormParams(out_shift, 2), x, gamma, beta)
        if out_shift == 8:  # d = -+1 times -2^31, over 2^(30 - 13 + 8) = 2^25 (2^-1: 1 / sqrt(4))
            assert got.tolist() == [[64, -64], [-64, 64]]


def _quantised_layer_norm(rng: np.random.Generator, c: int, eps_f: float) -> dict[str, np.ndarray | float | int]:
    """Float LayerNorm(c) on 300 pixels of random means and spreads (std 0.02..3, some a few input steps wide) and
    the quantities hil_kernels.h's quantisation gives it: x = x_q * 2^ex, gamma = w * sqrt(C) at eg, beta = b at
    eo - 8, out_shift = eo - eg, eps = eps_f * C^3 * 2^(-2 ex)."""
    std = np.exp(rng.uniform(np.log(0.02), np.log(3.0), (300, 1)))
    xf = rng.normal(0, 2, (300, 1)) + std * rng.normal(0, 1, (300, c))
    ex = math.ceil(math.log2(np.abs(xf).max() / 127))
    xq = np.clip(np.round(xf * 2.0**-ex), -128, 127).astype(np.int8)
    w, b = rng.normal(1, 0.3, c), rng.normal(0, 0.5, c)
    reference = F.layer_norm(
        torch.from_numpy(xq * 2.0**ex), (c,), torch.from_numpy(w), torch.from_numpy(b), eps_f
    ).numpy()
    eg = math.ceil(math.log2(np.abs(w).max() * math.sqrt(c) / 32767))
    eo = math.ceil(math.log2(np.abs(reference).max() / 127))
    return {
        "x": xq,
        "reference": reference,
        "w": w,
        "b": b,
        "ex": ex,
        "eg": eg,
        "eo": eo,
        "eps": round(eps_f * c**3 * 2.0 ** (-2 * ex)),
    }


def _layer_norm_error(q: dict, gamma_scale: float, beta_bits: int, eps: int) -> tuple[float, float]:
    """(SNR in dB, largest error in output steps) of layer_norm_s8 against q's float reference."""
    gamma = np.round(q["w"] * gamma_scale * 2.0 ** -q["eg"]).astype(np.int16)
    beta = np.round(q["b"] * 2.0 ** (beta_bits - q["eo"])).astype(np.int32)
    out = layer_norm_s8(LayerNormParams(q["eo"] - q["eg"], eps), q["x"], gamma, beta) * 2.0 ** q["eo"]
    return snr_db(q["reference"], out), float(np.abs(out - q["reference"]).max() / 2.0 ** q["eo"])


@pytest.mark.parametrize(
    ("channels", "eps_f", "eps_matters"),
    [(3, 1e-2, True), (32, 1e-5, False), (64, 1e-2, True), (768, 1e-5, True), (96, 0.1, True)],
)
def test_layer_norm_twin_close_to_float(channels: int, eps_f: float, eps_matters: bool) -> None:
    """The twin against torch's layer_norm (weight and bias) on the dequantised input, quantised as hil_kernels.h
    says: every output within 1 step of the float (its own rounding is half a step; gamma's, r's and beta's add a
    little), and the SNR within 0.5 dB of the float rounded to the int8 grid (that alone is 24..41 dB here: pixels
    only a few input steps wide normalise to outliers that set eo). The same quantisation without sqrt(C) in gamma,
    without beta's 8 extra bits, or (where some pixels' variance is near eps_f) with eps = 0 or scaled by C^2
    rather than C^3 is more than 2 steps off."""
    rng = np.random.default_rng(5300 + channels)
    q = _quantised_layer_norm(rng, channels, eps_f)
    assert -8 <= q["eo"] - q["eg"] <= 29 and 0 <= q["eps"] < 2**31
    rounded = np.clip(np.round(q["reference"] * 2.0 ** -q["eo"]), -128, 127) * 2.0 ** q["eo"]
    snr, steps = _layer_norm_error(q, math.sqrt(channels), 8, q["eps"])
    assert steps <= 1.0 and snr >= snr_db(q["reference"], rounded) - 0.5, (snr, steps)
    wrong = [_layer_norm_error(q, 1.0, 8, q["eps"]), _layer_norm_error(q, math.sqrt(channels), 0, q["eps"])]
    if eps_matters:
        wrong += [
            _layer_norm_error(q, math.sqrt(channels), 8, 0),
            _layer_norm_error(q, math.sqrt(channels), 8, round(q["eps"] / channels)),
        ]
    for snr, steps in wrong:
        assert steps > 2, (snr, steps)


def test_layer_norm_refuses_bad_arguments(host: HostKernels) -> None:
    """The C: C = 0 and 4097, out_shift -9 and 30, eps -1, a negative n, h or w, and each NULL pointer (its limits
    C = 1 and 4096, out_shift -8 and 29, eps 0 and int32's largest, and no pixels, accepted); the binding: gamma or
    beta not of C values; the twin: wrong dtypes and shapes (TypeError, naming them) and the C's ranges
    (KernelRangeError)."""
    x, gamma, beta = np.zeros((2, 3), np.int8), np.ones(3, np.int16), np.zeros(3, np.int32)
    for params in (LayerNormParams(-8), LayerNormParams(29), LayerNormParams(0, 2**31 - 1)):
        host.layer_norm_s8(params, x, gamma, beta)
    for c in (1, 4096):
        host.layer_norm_s8(LayerNormParams(3), np.zeros((1, c), np.int8), np.ones(c, np.int16), np.ones(c, np.int32))
    for c in (0, 4097):
        with pytest.raises(HostKernelError, match="layer_norm_s8"):
            host.layer_norm_s8(
                LayerNormParams(3), np.zeros((2, c), np.int8), np.ones(c, np.int16), np.ones(c, np.int32)
            )
        with pytest.raises(KernelRangeError, match=r"layer_norm_s8 takes 1\.\.4096 channels"):
            layer_norm_s8(LayerNormParams(3), np.zeros((2, c), np.int8), np.ones(c, np.int16), np.ones(c, np.int32))
    for params in (LayerNormParams(-9), LayerNormParams(30), LayerNormParams(0, -1)):
        with pytest.raises(HostKernelError, match="layer_norm_s8"):
            host.layer_norm_s8(params, x, gamma, beta)
        with pytest.raises(KernelRangeError, match=r"out_shift in -8\.\.29 and eps in 0\.\.2\^31-1"):
            layer_norm_s8(params, x, gamma, beta)
    with pytest.raises(KernelRangeError, match=r"eps in 0\.\.2\^31-1"):
        layer_norm_s8(LayerNormParams(0, 2**31), x, gamma, beta)

    output = np.zeros_like(x)
    params, dims = ctypes.byref(_struct(LayerNormParams(3))), ctypes.byref(_dims((1, 1, 2, 3)))
    good = [params, dims, _ptr(x, np.int8), _ptr(gamma, np.int16), _ptr(beta, np.int32), _ptr(output, np.int8)]
    host._call("layer_norm_s8", *good)
    host._call("layer_norm_s8", params, ctypes.byref(_dims((0, 1, 2, 3))), *good[2:])  # no pixels
    for bad_dims in ((-1, 1, 2, 3), (1, -1, 2, 3), (1, 1, -2, 3)):
        with pytest.raises(HostKernelError, match="layer_norm_s8"):
            host._call("layer_norm_s8", params, ctypes.byref(_dims(bad_dims)), *good[2:])
    for null in range(len(good)):
        with pytest.raises(HostKernelError, match="layer_norm_s8"):
            host._call("layer_norm_s8", *good[:null], None, *good[null + 1 :])

    for bad_gamma, bad_beta in ((np.ones(2, np.int16), beta), (gamma, np.zeros(4, np.int32))):
        with pytest.raises(TypeError, match=r"layer_norm_s8: per-channel arrays \[.*\] do not match"):
            host.layer_norm_s8(LayerNormParams(3), x, bad_gamma, bad_beta)
    for bad in (
        (x.astype(np.int16), gamma, beta),
        (x, gamma.astype(np.int32), beta),
        (x, gamma, beta.astype(np.int16)),
        (x, np.ones(2, np.int16), beta),
        (x, gamma, np.zeros((1, 3), np.int32)),
        (np.int8(1), gamma, beta),
    ):
        with pytest.raises(
            TypeError, match=r"layer_norm_s8 takes int8 \[\.\.\., C\], int16 gamma \[C\] and int32 beta"
        ):
            layer_norm_s8(LayerNormParams(3), *bad)
