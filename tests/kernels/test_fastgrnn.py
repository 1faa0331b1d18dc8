"""FastGRNN in fixed point: the tanh/sigmoid tables, host C == twin, and the twin against float FastGRNN."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from hil.host_build import HostKernelError, HostKernels, build_shared_library, kernel_sources
from hil.host_build.compiler import KERNELS_DIR
from hil.kernels_ref import (
    FastGRNNParams,
    FastGRNNWeights,
    KernelRangeError,
    check_fastgrnn,
    fastgrnn_step_s16,
    sigmoid_q15,
    tanh_q15,
    tanh_table,
)
from hil.kernels_ref.nonlinear import max_abs_errors
from tests.kernels.conftest import random_cell, snr_db

SHIM = KERNELS_DIR.parents[1] / "tests" / "kernels" / "c" / "nonlinear_shim.c"


def test_c_table_is_the_twins_table(host: HostKernels) -> None:
    np.testing.assert_array_equal(host.tanh_table(), tanh_table())


def test_c_tanh_and_sigmoid_match_twin_everywhere() -> None:
    lib = ctypes.CDLL(str(build_shared_library([*kernel_sources(), SHIM], name="hil_kernels_shim").path))
    v = np.concatenate([np.arange(-(2**17), 2**17 + 1), [-(2**30), 2**30, -(2**20), 2**20]]).astype(np.int32)
    for name, twin in (("hil_test_tanh_q15", tanh_q15), ("hil_test_sigmoid_q15", sigmoid_q15)):
        out = np.zeros_like(v)
        pointers = (v.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p))
        getattr(lib, name)(*pointers, ctypes.c_int32(v.size))
        np.testing.assert_array_equal(out, twin(v), err_msg=name)


def test_nonlinearity_errors_against_float() -> None:
    errors = max_abs_errors()
    # a direct read: tanh's tail beyond 4 (6.7e-4) and half a bin (2^-11; sigmoid at half those) dominate
    assert errors["tanh"] < 6.8e-4
    assert errors["sigmoid"] < 3.4e-4
    assert sigmoid_q15(np.array([-(2**30)]))[0] == 11 and sigmoid_q15(np.array([2**30]))[0] == 32757


@pytest.mark.parametrize("seed", range(24))
def test_step_matches_twin(host: HostKernels, seed: int) -> None:
    rng = np.random.default_rng(6000 + seed)
    n_in, n_h = int(rng.integers(1, 20)), int(rng.integers(1, 20))
    int8_input = seed % 2 == 0
    x_max = 128 if int8_input else 32768
    h_frac = int(rng.integers(8, 15))
    scale = float(rng.uniform(0.1, 2))
    params, weights, _ = random_cell(rng, n_in, n_h, int(rng.integers(-8, -2)), x_max, h_frac, scale)
    check_fastgrnn(params, weights, x_max)
    for _ in range(4):
        x = rng.integers(-x_max, x_max, n_in).astype(np.int16)
        h = rng.integers(-32768, 32768, n_h).astype(np.int16)
        np.testing.assert_array_equal(
            host.fastgrnn_step_s16(params, weights, x, h), fastgrnn_step_s16(params, weights, x, h)
        )


def test_step_extremes(host: HostKernels) -> None:
    n_in, n_h = 5, 7
    # weights at the bound: every accumulator term as large as allowed, gates saturated both ways
    w = np.full((n_h, n_in), 32767, dtype=np.int16)
    w[::2] = -32768
    u = np.full((n_h, n_h), 1, dtype=np.int16)
    bias = np.zeros(n_h, dtype=np.int32)
    weights = FastGRNNWeights(w, u, bias, bias)
    for zeta, nu, h_frac in ((32768, 32768, 14), (0, 0, 0), (32768, 0, 14), (12345, 777, 7)):
        params = FastGRNNParams(0, 0, 4, h_frac, zeta, nu)
        check_fastgrnn(params, weights, 128)
        for x_value, h_value in ((-128, -32768), (127, 32767), (0, 0), (-128, 32767)):
            x = np.full(n_in, x_value, dtype=np.int16)
            h = np.full(n_h, h_value, dtype=np.int16)
            np.testing.assert_array_equal(
                host.fastgrnn_step_s16(params, weights, x, h), fastgrnn_step_s16(params, weights, x, h)
            )


def test_bound_and_argument_checks(host: HostKernels) -> None:
    w = np.full((2, 3), 32767, dtype=np.int16)
    weights = FastGRNNWeights(w, np.zeros((2, 2), np.int16), np.zeros(2, np.int32), np.zeros(2, np.int32))
    with pytest.raises(KernelRangeError, match="2\\^30"):
        check_fastgrnn(FastGRNNParams(10, 0, 12, 14, 32768, 0), weights, 32768)
    x, h = np.zeros(3, np.int16), np.zeros(2, np.int16)
    for bad in (
        FastGRNNParams(0, 0, 12, 15, 32768, 0),
        FastGRNNParams(0, 31, 12, 14, 0, 0),
        FastGRNNParams(0, 0, 12, 14, 32769, 0),
        FastGRNNParams(0, 0, -1, 14, 0, 0),
    ):
        with pytest.raises(HostKernelError):
            host.fastgrnn_step_s16(bad, weights, x, h)


def float_step(cell: dict, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """FastGRNN in float64 with explicit loops over units (EdgeML: x @ W, h @ U)."""
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    out = np.zeros_like(h)
    for j in range(h.size):
        pre = sum(x[i] * cell["W"][i, j] for i in range(x.size)) + sum(h[i] * cell["U"][i, j] for i in range(h.size))
        z = sig(pre + cell["bg"][j])
        c = np.tanh(pre + cell["bh"][j])
        out[j] = z * h[j] + (sig(cell["zeta"]) * (1 - z) + sig(cell["nu"])) * c
    return out


@pytest.mark.parametrize(("n_in", "n_h", "int8_input"), [(4, 16, True), (16, 16, False)])
def test_fixed_point_sequence_tracks_float(n_in: int, n_h: int, int8_input: bool) -> None:
    """Eight steps from zero on random inputs: SNR of the fixed-point state vs float on the same dequantised data."""
    rng = np.random.default_rng(11 + n_in)
    x_exp, x_max, h_frac = (-5, 128, 14) if int8_input else (-14, 32768, 14)
    params, weights, cell = random_cell(rng, n_in, n_h, x_exp, x_max, h_frac)
    # the float cell uses the dequantised weights, so the comparison measures the arithmetic, not weight rounding
    deq = dict(
        cell,
        W=weights.w.T * 2.0 ** (params.wx_shift - x_exp - params.pre_shift - 12),
        U=weights.u.T * 2.0 ** (params.uh_shift + h_frac - params.pre_shift - 12),
    )
    deq["bg"] = weights.bias_gate * 2.0 ** (-params.pre_shift - 12)
    deq["bh"] = weights.bias_update * 2.0 ** (-params.pre_shift - 12)
    states_q, states_f = [], []
    for _ in range(20):
        h_q, h_f = np.zeros(n_h, np.int16), np.zeros(n_h)
        for _ in range(8):
            limit = 1.0 if int8_input else 0.9  # RNN2's inputs are RNN1 states, |h| < 1
            x_f = rng.uniform(-limit * x_max, limit * x_max, n_in).round().clip(-x_max, x_max - 1)
            h_q = fastgrnn_step_s16(params, weights, x_f.astype(np.int16), h_q)
            h_f = float_step(deq, x_f * 2.0**x_exp, h_f)
        states_q.append(h_q * 2.0**-h_frac)
        states_f.append(h_f)
    snr = snr_db(np.array(states_f), np.array(states_q))
    print(f"FastGRNN {n_in}->{n_h} fixed vs float SNR {snr:.1f} dB")
    assert snr >= 30, f"SNR {snr:.1f} dB"
