"""add_s8 and l2norm_s8: host C == numpy twin, and the twin's L2Norm close to the float one."""

from __future__ import annotations

import numpy as np
import pytest

from hil.host_build import HostKernelError, HostKernels
from hil.kernels_ref import AddParams, L2NormParams, add_s8, l2norm_s8


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
