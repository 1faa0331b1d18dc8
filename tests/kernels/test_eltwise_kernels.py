"""add_s8, add_a16 and l2norm_s8: host C == numpy twin, and the twin's L2Norm close to the float one."""

from __future__ import annotations

import numpy as np
import pytest

from hil.host_build import HostKernelError, HostKernels
from hil.kernels_ref import AddA16Params, AddParams, L2NormParams, add_a16, add_s8, l2norm_s8


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
