"""gru_s8: the host C == the numpy twin (hil.kernels_ref.gru) bit for bit, over GRUs of torch.nn.GRU quantised by
quantize_gru and over integers built at the accumulator bound; the twin against torch.nn.GRU in float; the argument
checks and the scratch size."""

from __future__ import annotations

import ctypes
from dataclasses import replace

import numpy as np
import pytest
import torch

from hil.host_build import HostKernelError, HostKernels
from hil.host_build.kernels import CContext, CDims, _RecurrentWeights, _struct
from hil.kernels_ref import (
    GRUWeights,
    KernelRangeError,
    RecurrentParams,
    check_gru,
    gru_accumulator_bound,
    gru_buffer_size,
    gru_s8,
    quantize_gru,
)

ACC_LIMIT = 2**30
OUT_EXPONENTS = (-7, -9, -15, 0)


def torch_gru(seed: int, n_in: int, n_h: int, scale: float = 1.0) -> torch.nn.GRU:
    """torch.nn.GRU(n_in, n_h) with PyTorch's initialisation (uniform in +-1/sqrt(n_h)) times scale, in float64."""
    torch.manual_seed(seed)
    gru = torch.nn.GRU(n_in, n_h, batch_first=True).double()
    with torch.no_grad():
        for parameter in gru.parameters():
            parameter.mul_(scale)
    return gru


def quantized(
    gru: torch.nn.GRU, x_exponent: int, out_exponent: int, reverse: bool = False, last_only: bool = False
) -> tuple[RecurrentParams, GRUWeights]:
    arrays = [getattr(gru, f"{n}_l0").detach().numpy() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    params, weights = quantize_gru(*arrays, x_exponent, 128, out_exponent, reverse, last_only)
    check_gru(params, weights, 128)
    return params, weights


def assert_c_matches_twin(host: HostKernels, params: RecurrentParams, weights: GRUWeights, x: np.ndarray) -> np.ndarray:
    expected = gru_s8(params, weights, x)
    got = host.gru_s8(params, weights, x)
    assert got.shape == expected.shape == (x.shape[0], 1 if params.last_only else x.shape[1], weights.hidden_size)
    np.testing.assert_array_equal(got, expected)
    return expected


@pytest.mark.parametrize("seed", range(32))
def test_random_torch_grus_match_twin(host: HostKernels, seed: int) -> None:
    """Sizes 1..64 in, 1..96 hidden (odd ones included), 1..40 steps, batch 1 or 3, both directions, every step or
    the last only, output exponents -7, -9, -15 and 0, weights 0.5 to 3 times PyTorch's initialisation."""
    rng = np.random.default_rng(7100 + seed)
    n_in, n_h = int(rng.integers(1, 65)), int(rng.integers(1, 97))
    steps, batch = int(rng.integers(1, 41)), (1, 3)[seed % 2]
    gru = torch_gru(seed, n_in, n_h, float(rng.uniform(0.5, 3.0)))
    reverse, last_only = bool(seed // 2 % 2), bool(seed // 4 % 2)
    params, weights = quantized(gru, int(rng.integers(-7, -2)), OUT_EXPONENTS[seed % 4], reverse, last_only)
    x = rng.integers(-128, 128, (batch, steps, n_in), dtype=np.int8)
    assert_c_matches_twin(host, params, weights, x)


@pytest.mark.parametrize(
    ("n_in", "n_h", "steps"), [(1, 1, 1), (1, 1, 7), (64, 96, 40), (7, 5, 3), (32, 64, 49), (10, 20, 12), (13, 33, 5)]
)
def test_edge_sizes_match_twin(host: HostKernels, n_in: int, n_h: int, steps: int) -> None:
    rng = np.random.default_rng(n_in * 1000 + n_h)
    params, weights = quantized(torch_gru(n_in + n_h, n_in, n_h), -5, -7)
    for reverse, last_only in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x = rng.integers(-128, 128, (3, steps, n_in), dtype=np.int8)
        assert_c_matches_twin(host, replace(params, reverse=reverse, last_only=last_only), weights, x)


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_extreme_inputs_match_twin(host: HostKernels, scale: float) -> None:
    """Frames of -128 and of 127, alternating within a frame and from one step to the next; with weights 4 times
    PyTorch's initialisation the gates saturate both ways."""
    n_in, n_h, steps = 12, 17, 9
    gru = torch_gru(int(scale), n_in, n_h, scale)
    frames = [np.full(n_in, -128), np.full(n_in, 127), np.where(np.arange(n_in) % 2 == 0, -128, 127)]
    x = np.stack([np.stack([frames[(b + t) % 3] for t in range(steps)]) for b in range(3)]).astype(np.int8)
    for out_exponent in OUT_EXPONENTS:
        params, weights = quantized(gru, -4, out_exponent)
        assert_c_matches_twin(host, params, weights, x)
        assert_c_matches_twin(host, replace(params, reverse=1), weights, x)


def weights_at_bound(rng: np.random.Generator, n_in: int, n_h: int, wx_shift: int, uh_shift: int) -> GRUWeights:
    """Integers whose every gate row is exactly at the bound 2^30 (x_max 128): W of the largest magnitude whose term
    stays within 2^29 (-32768 or 32767 when that fits), U random within what keeps its term within 2^29, and the
    biases (the new gate's split between bias and bias_hn) filling each row up to 2^30, with random signs."""
    w_max = (2**29 >> wx_shift) // (n_in * 128)
    if w_max >= 32768:
        w = rng.choice(np.array([-32768, 32767], dtype=np.int16), (3 * n_h, n_in))
    else:
        w = (rng.choice([-1, 1], (3 * n_h, n_in)) * w_max).astype(np.int16)
    u_max = min(32767, (2**29 >> uh_shift) // (n_h * 32768))
    u = rng.integers(-u_max, u_max + 1, (3 * n_h, n_h)).astype(np.int16)
    params = RecurrentParams(wx_shift, uh_shift, 0, 0)
    rows = np.abs(w.astype(np.int64)).sum(1) * 128 << wx_shift
    rows += np.abs(u.astype(np.int64)).sum(1) * 32768 << uh_shift
    assert rows.max() <= 2**29 + 2**29
    rest = ACC_LIMIT - rows
    sign = rng.choice([-1, 1], 3 * n_h)
    bias = rest * sign
    bias_hn = rest[2 * n_h :] // 3 * rng.choice([-1, 1], n_h)
    bias[2 * n_h :] = (rest[2 * n_h :] - np.abs(bias_hn)) * sign[2 * n_h :]
    weights = GRUWeights(w, u, bias.astype(np.int32), bias_hn.astype(np.int32))
    assert gru_accumulator_bound(params, weights, 128) == ACC_LIMIT
    return weights


@pytest.mark.parametrize(("wx_shift", "uh_shift"), [(4, 0), (0, 4), (9, 2), (0, 0), (2, 9), (12, 1)])
@pytest.mark.parametrize("pre_shift", [0, 7, 14])
def test_weights_at_the_bound_match_twin(host: HostKernels, wx_shift: int, uh_shift: int, pre_shift: int) -> None:
    """Every gate row exactly at gru_accumulator_bound 2^30 (check_gru passes, one more and it refuses), in both
    summation orders of the C (wx_shift >= uh_shift: W x first; else U h first), under extreme frames: some that
    match the signs of a row of W (its sum at the bound's x part) and random -128 / 127."""
    rng = np.random.default_rng(wx_shift * 100 + uh_shift * 10 + pre_shift)
    n_in, n_h, steps = 8, 6, 12
    weights = weights_at_bound(rng, n_in, n_h, wx_shift, uh_shift)
    for out_shift in (0, 8, 15):
        params = RecurrentParams(wx_shift, uh_shift, pre_shift, out_shift)
        check_gru(params, weights, 128)
        x = np.where(rng.integers(0, 2, (3, steps, n_in)) == 0, -128, 127).astype(np.int8)
        for t in range(0, steps, 3):  # frames at the signs of rows 0, H (update) and 2H (new) of W
            x[0, t] = np.where(weights.w[(t // 3 % 3) * n_h] < 0, -128, 127)
            x[1, t] = np.where(weights.w[(t // 3 % 3) * n_h] < 0, 127, -128)
        assert_c_matches_twin(host, params, weights, x)
        assert_c_matches_twin(host, replace(params, reverse=1, last_only=1), weights, x)
    over = np.array(weights.bias, dtype=np.int32)
    over[0] += 1 if over[0] >= 0 else -1
    with pytest.raises(KernelRangeError, match="2\\^30"):
        check_gru(RecurrentParams(wx_shift, uh_shift, pre_shift, 0), replace(weights, bias=over), 128)


@pytest.mark.parametrize(("wx_shift", "uh_shift", "pre_shift"), [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)])
def test_fine_pre_activations_match_twin(host: HostKernels, wx_shift: int, uh_shift: int, pre_shift: int) -> None:
    """Small integers with pre_shift 0 or 1, so that the gates' inputs stay within the tables' range and one unit of
    the accumulator moves an index: every rounding (of r * a_h, of the state, of the output) shows. (Checked by
    mutation: r * a_h floored instead of rounded fails this test and no other.)"""
    rng = np.random.default_rng(7400 + 100 * wx_shift + 10 * uh_shift + pre_shift)
    n_in, n_h, steps = 5, 7, 30
    w = rng.integers(-30, 31, (3 * n_h, n_in)).astype(np.int16)
    u = (rng.integers(-1, 2, (3 * n_h, n_h)) * (rng.random((3 * n_h, n_h)) < 0.3)).astype(np.int16)
    bias = rng.integers(-3000, 3001, 3 * n_h).astype(np.int32)
    weights = GRUWeights(w, u, bias, rng.integers(-3000, 3001, n_h).astype(np.int32))
    x = rng.integers(-128, 128, (3, steps, n_in), dtype=np.int8)
    for out_shift in (1, 8, 9):
        params = RecurrentParams(wx_shift, uh_shift, pre_shift, out_shift)
        check_gru(params, weights, 128)
        assert_c_matches_twin(host, params, weights, x)
        assert_c_matches_twin(host, replace(params, reverse=1), weights, x)


@pytest.mark.parametrize("seed", range(6))
def test_biases_only_match_twin(host: HostKernels, seed: int) -> None:
    """Zero weights, so the state runs on the biases alone: quantized from a float GRU (then the twin also agrees
    with torch to within an output step), and as integers up to 2^29 at every pre_shift."""
    rng = np.random.default_rng(7300 + seed)
    n_in, n_h, steps = int(rng.integers(1, 9)), int(rng.integers(1, 40)), int(rng.integers(1, 30))
    gru = torch_gru(seed, n_in, n_h, 3.0)
    with torch.no_grad():
        gru.weight_ih_l0.zero_()
        gru.weight_hh_l0.zero_()
    params, weights = quantized(gru, -5, -7)
    x = rng.integers(-128, 128, (2, steps, n_in), dtype=np.int8)
    out = assert_c_matches_twin(host, params, weights, x)
    reference = gru(torch.tensor(x * 2.0**-5))[0].detach().numpy()
    assert np.abs(out * 2.0**-7 - np.clip(reference, -1, 127 / 128)).max() <= 2.0**-7
    zero_w, zero_u = np.zeros((3 * n_h, n_in), np.int16), np.zeros((3 * n_h, n_h), np.int16)
    bias = rng.integers(-(2**29), 2**29, 3 * n_h).astype(np.int32)
    bias_hn = rng.integers(-(2**29), 2**29, n_h).astype(np.int32)
    weights = GRUWeights(zero_w, zero_u, bias, bias_hn)
    for pre_shift in (0, 5, 14):
        params = RecurrentParams(
            int(rng.integers(0, 31)), int(rng.integers(0, 31)), pre_shift, int(rng.integers(0, 16))
        )
        check_gru(params, weights, 128)
        assert_c_matches_twin(host, params, weights, x)


@pytest.mark.parametrize(("scale", "tolerance_steps"), [(1.0, 1.0), (2.0, 2.0)])
def test_twin_tracks_torch_gru(scale: float, tolerance_steps: float) -> None:
    """The twin's int8 output (exponent -7) against torch.nn.GRU in float64 on the same dequantised frames, over 24
    random GRUs (1..64 in, 1..96 hidden, 1..40 steps, batch 3).

    The tolerance: the output's own rounding is half a step (mean a quarter); the int8 range stops at 127/128, so
    torch is clipped there. The rest is the arithmetic: tanh read from the nearest of 8192 bins (error <= 2^-11 plus
    tanh's tail beyond 4, 6.7e-4), sigmoid (<= 3.4e-4), the Q15 state and the int16 weights (2^-16 relative), about
    1e-3 per step, which the recurrence carries on: at PyTorch's initialisation (U within +-1/sqrt(hidden), a
    contraction) it stays below ~0.3 step, measured <= 0.78 step in all with the rounding, hence 1 step; at twice
    those weights the recurrence amplifies it (measured <= 1.5 steps), hence 2."""
    errors, means = [], []
    for seed in range(24):
        rng = np.random.default_rng(7200 + seed)
        n_in, n_h, steps = int(rng.integers(1, 65)), int(rng.integers(1, 97)), int(rng.integers(1, 41))
        gru = torch_gru(seed, n_in, n_h, scale)
        reverse = seed % 2 == 1
        params, weights = quantized(gru, -5, -7, reverse)
        x = rng.integers(-128, 128, (3, steps, n_in), dtype=np.int8)
        out = gru_s8(params, weights, x) * 2.0**-7
        frames = torch.tensor((x[:, ::-1] if reverse else x) * 2.0**-5)
        reference = gru(frames)[0].detach().numpy()
        reference = np.clip(reference[:, ::-1] if reverse else reference, -1, 127 / 128)
        error = np.abs(out - reference) * 2.0**7
        errors.append(error.max())
        means.append(error.mean())
    assert max(errors) <= tolerance_steps, errors
    assert max(means) <= 0.35, means


def test_buffer_size_is_the_twins(host: HostKernels) -> None:
    for n_in, n_h in [(1, 1), (1, 2), (2, 1), (3, 3), (32, 64), (13, 33), (64, 96), (7, 255), (1000, 1)]:
        weights = GRUWeights(
            np.zeros((3 * n_h, n_in), np.int16),
            np.zeros((3 * n_h, n_h), np.int16),
            np.zeros(3 * n_h, np.int32),
            np.zeros(n_h, np.int32),
        )
        size = host.gru_get_buffer_size(weights)
        assert size == gru_buffer_size(weights) and size % 4 == 0
        assert size >= 12 * n_h + 2 * (2 * n_h + n_in)


@pytest.fixture(scope="module")
def small_gru() -> tuple[RecurrentParams, GRUWeights, np.ndarray]:
    params, weights = quantized(torch_gru(5, 6, 4), -5, -7)
    x = np.random.default_rng(5).integers(-128, 128, (2, 3, 6), dtype=np.int8)
    return params, weights, x


@pytest.mark.parametrize(
    "bad",
    [
        {"wx_shift": -1},
        {"wx_shift": 31},
        {"uh_shift": -1},
        {"uh_shift": 31},
        {"pre_shift": -1},
        {"pre_shift": 15},
        {"out_shift": -1},
        {"out_shift": 16},
        {"reverse": 2},
        {"reverse": -1},
        {"last_only": 2},
        {"act_min": 10, "act_max": 9},
        {"act_min": -129},
        {"act_max": 128},
    ],
    ids=lambda bad: ",".join(f"{k}={v}" for k, v in bad.items()),
)
def test_bad_params_are_refused(host: HostKernels, small_gru, bad: dict[str, int]) -> None:
    params, weights, x = small_gru
    with pytest.raises(HostKernelError, match="gru_s8 returned status -1"):
        host.gru_s8(replace(params, **bad), weights, x)


def test_bad_shapes_and_scratch_are_refused(host: HostKernels, small_gru) -> None:
    params, weights, x = small_gru
    host.gru_s8(params, weights, x, scratch_bytes=gru_buffer_size(weights))  # exactly the size: fine
    for kwargs in (
        {"scratch_bytes": gru_buffer_size(weights) - 1},
        {"scratch_bytes": 0},
        {"input_dims": (2, 2, 3, 6)},  # h != 1
        {"input_dims": (2, 1, 3, 5)},  # c != input_size
        {"input_dims": (0, 1, 3, 6)},  # no batch
        {"input_dims": (2, 1, 0, 6)},  # no steps
    ):
        with pytest.raises(HostKernelError):
            host.gru_s8(params, weights, x, **kwargs)
    with pytest.raises(HostKernelError):
        host.gru_s8(params, weights, x[:, :0])  # zero steps, from the array's shape
    empty = GRUWeights(weights.w[:, :0].copy(), weights.u, weights.bias, weights.bias_hn)  # input_size 0
    with pytest.raises(HostKernelError):
        host.gru_s8(params, empty, x[:, :, :0])
    with pytest.raises(TypeError, match="expected \\[batch, steps, 6\\]"):
        host.gru_s8(params, weights, x[:, :, :5])


def test_null_pointers_and_misaligned_scratch_are_refused(host: HostKernels, small_gru) -> None:
    params, weights, x = small_gru
    held = _RecurrentWeights(weights)
    size = gru_buffer_size(weights)
    scratch = np.zeros(size // 4 + 2, dtype=np.int32)
    output = np.zeros((2, 3, 4), dtype=np.int8)
    c_params, dims = _struct(params), CDims(2, 1, 3, 6)
    xp, op = x.ctypes.data_as(ctypes.c_void_p), output.ctypes.data_as(ctypes.c_void_p)

    def call(context, c_params=c_params, c_weights=held.struct, dims=dims, xp=xp, op=op) -> int:
        refs = [None if a is None else ctypes.byref(a) for a in (context, c_params, c_weights, dims)]
        return host.lib.gru_s8(*refs, xp, op)

    assert call(CContext(scratch.ctypes.data, size)) == 0
    np.testing.assert_array_equal(output, gru_s8(params, weights, x))
    assert call(CContext(scratch.ctypes.data + 2, size)) == -1  # not 4-byte aligned
    assert call(CContext(None, size)) == -1
    assert call(None) == -1
    context = CContext(scratch.ctypes.data, size)
    for kwargs in ({"c_params": None}, {"c_weights": None}, {"dims": None}, {"xp": None}, {"op": None}):
        assert call(context, **kwargs) == -1, kwargs
    for field in ("w", "u", "bias", "bias_hn"):
        nulled = _RecurrentWeights(weights)
        setattr(nulled.struct, field, None)
        assert call(context, c_weights=nulled.struct) == -1, field
