"""lstm_s8: the host C == the numpy twin (hil.kernels_ref.lstm) bit for bit, over LSTMs of torch.nn.LSTM quantised by
quantize_lstm and over integers built at the accumulator bound or driving the cell state far past 1; the twin against
torch.nn.LSTM in float; the argument checks and the scratch size."""

from __future__ import annotations

import ctypes
from dataclasses import replace

import numpy as np
import pytest
import torch

from hil.host_build import HostKernelError, HostKernels
from hil.host_build.kernels import CContext, CDims, _RecurrentWeights, _struct
from hil.kernels_ref import (
    KernelRangeError,
    LSTMWeights,
    RecurrentParams,
    check_lstm,
    lstm_accumulator_bound,
    lstm_buffer_size,
    lstm_s8,
    quantize_lstm,
)
from hil.kernels_ref.lstm import lstm_step

ACC_LIMIT = 2**30
OUT_EXPONENTS = (-7, -9, -15, 0)


def torch_lstm(seed: int, n_in: int, n_h: int, scale: float = 1.0) -> torch.nn.LSTM:
    """torch.nn.LSTM(n_in, n_h) with PyTorch's initialisation (uniform in +-1/sqrt(n_h)) times scale, in float64."""
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(n_in, n_h, batch_first=True).double()
    with torch.no_grad():
        for parameter in lstm.parameters():
            parameter.mul_(scale)
    return lstm


def quantized(
    lstm: torch.nn.LSTM, x_exponent: int, out_exponent: int, reverse: bool = False, last_only: bool = False
) -> tuple[RecurrentParams, LSTMWeights]:
    arrays = [getattr(lstm, f"{n}_l0").detach().numpy() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    params, weights = quantize_lstm(*arrays, x_exponent, 128, out_exponent, reverse, last_only)
    check_lstm(params, weights, 128)
    return params, weights


def assert_c_matches_twin(
    host: HostKernels, params: RecurrentParams, weights: LSTMWeights, x: np.ndarray
) -> np.ndarray:
    expected = lstm_s8(params, weights, x)
    got = host.lstm_s8(params, weights, x)
    assert got.shape == expected.shape == (x.shape[0], 1 if params.last_only else x.shape[1], weights.hidden_size)
    np.testing.assert_array_equal(got, expected)
    return expected


def cell_states(params: RecurrentParams, weights: LSTMWeights, x: np.ndarray) -> np.ndarray:
    """The twin's cell states [batch, steps, hidden] (Q15) over x, forward."""
    h = c = np.zeros((x.shape[0], weights.hidden_size), dtype=np.int64)
    cells = []
    for t in range(x.shape[1]):
        h, c = lstm_step(params, weights, x[:, t], h, c)
        cells.append(c)
    return np.stack(cells, axis=1)


@pytest.mark.parametrize("seed", range(32))
def test_random_torch_lstms_match_twin(host: HostKernels, seed: int) -> None:
    """Sizes 1..64 in, 1..96 hidden (odd ones included), 1..40 steps, batch 1 or 3, both directions, every step or
    the last only, output exponents -7, -9, -15 and 0, weights 0.5 to 3 times PyTorch's initialisation."""
    rng = np.random.default_rng(7500 + seed)
    n_in, n_h = int(rng.integers(1, 65)), int(rng.integers(1, 97))
    steps, batch = int(rng.integers(1, 41)), (1, 3)[seed % 2]
    lstm = torch_lstm(seed, n_in, n_h, float(rng.uniform(0.5, 3.0)))
    reverse, last_only = bool(seed // 2 % 2), bool(seed // 4 % 2)
    params, weights = quantized(lstm, int(rng.integers(-7, -2)), OUT_EXPONENTS[seed % 4], reverse, last_only)
    x = rng.integers(-128, 128, (batch, steps, n_in), dtype=np.int8)
    assert_c_matches_twin(host, params, weights, x)


@pytest.mark.parametrize(
    ("n_in", "n_h", "steps"), [(1, 1, 1), (1, 1, 7), (64, 96, 40), (7, 5, 3), (32, 64, 49), (10, 20, 12), (13, 33, 5)]
)
def test_edge_sizes_match_twin(host: HostKernels, n_in: int, n_h: int, steps: int) -> None:
    rng = np.random.default_rng(n_in * 1000 + n_h + 1)
    params, weights = quantized(torch_lstm(n_in + n_h, n_in, n_h), -5, -7)
    for reverse, last_only in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x = rng.integers(-128, 128, (3, steps, n_in), dtype=np.int8)
        assert_c_matches_twin(host, replace(params, reverse=reverse, last_only=last_only), weights, x)


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_extreme_inputs_match_twin(host: HostKernels, scale: float) -> None:
    """Frames of -128 and of 127, alternating within a frame and from one step to the next; with weights 4 times
    PyTorch's initialisation the gates saturate both ways."""
    n_in, n_h, steps = 12, 17, 9
    lstm = torch_lstm(int(scale), n_in, n_h, scale)
    frames = [np.full(n_in, -128), np.full(n_in, 127), np.where(np.arange(n_in) % 2 == 0, -128, 127)]
    x = np.stack([np.stack([frames[(b + t) % 3] for t in range(steps)]) for b in range(3)]).astype(np.int8)
    for out_exponent in OUT_EXPONENTS:
        params, weights = quantized(lstm, -4, out_exponent)
        assert_c_matches_twin(host, params, weights, x)
        assert_c_matches_twin(host, replace(params, reverse=1), weights, x)


def weights_at_bound(rng: np.random.Generator, n_in: int, n_h: int, wx_shift: int, uh_shift: int) -> LSTMWeights:
    """Integers whose every gate row is exactly at the bound 2^30 (x_max 128): W of the largest magnitude whose term
    stays within 2^29 (-32768 or 32767 when that fits), U random within what keeps its term within 2^29, and the
    bias filling each row up to 2^30, with random signs."""
    w_max = (2**29 >> wx_shift) // (n_in * 128)
    if w_max >= 32768:
        w = rng.choice(np.array([-32768, 32767], dtype=np.int16), (4 * n_h, n_in))
    else:
        w = (rng.choice([-1, 1], (4 * n_h, n_in)) * w_max).astype(np.int16)
    u_max = min(32767, (2**29 >> uh_shift) // (n_h * 32768))
    u = rng.integers(-u_max, u_max + 1, (4 * n_h, n_h)).astype(np.int16)
    params = RecurrentParams(wx_shift, uh_shift, 0, 0)
    rows = np.abs(w.astype(np.int64)).sum(1) * 128 << wx_shift
    rows += np.abs(u.astype(np.int64)).sum(1) * 32768 << uh_shift
    assert rows.max() <= 2**29 + 2**29
    bias = (ACC_LIMIT - rows) * rng.choice([-1, 1], 4 * n_h)
    weights = LSTMWeights(w, u, bias.astype(np.int32))
    assert lstm_accumulator_bound(params, weights, 128) == ACC_LIMIT
    return weights


@pytest.mark.parametrize(("wx_shift", "uh_shift"), [(4, 0), (0, 4), (9, 2), (0, 0), (2, 9), (12, 1)])
@pytest.mark.parametrize("pre_shift", [0, 7, 14])
def test_weights_at_the_bound_match_twin(host: HostKernels, wx_shift: int, uh_shift: int, pre_shift: int) -> None:
    """Every gate row exactly at lstm_accumulator_bound 2^30 (check_lstm passes, one more and it refuses), in both
    summation orders of the C (wx_shift >= uh_shift: W x first; else U h first), under extreme frames: some that
    match the signs of a row of W (its sum at the bound's x part) and random -128 / 127."""
    rng = np.random.default_rng(wx_shift * 100 + uh_shift * 10 + pre_shift + 1)
    n_in, n_h, steps = 8, 6, 12
    weights = weights_at_bound(rng, n_in, n_h, wx_shift, uh_shift)
    for out_shift in (0, 8, 15):
        params = RecurrentParams(wx_shift, uh_shift, pre_shift, out_shift)
        check_lstm(params, weights, 128)
        x = np.where(rng.integers(0, 2, (3, steps, n_in)) == 0, -128, 127).astype(np.int8)
        for t in range(0, steps, 3):  # frames at the signs of rows 0, H (forget), 2H (cell) and 3H (output) of W
            x[0, t] = np.where(weights.w[(t // 3 % 4) * n_h] < 0, -128, 127)
            x[1, t] = np.where(weights.w[(t // 3 % 4) * n_h] < 0, 127, -128)
        assert_c_matches_twin(host, params, weights, x)
        assert_c_matches_twin(host, replace(params, reverse=1, last_only=1), weights, x)
    over = np.array(weights.bias, dtype=np.int32)
    over[3 * n_h] += 1 if over[3 * n_h] >= 0 else -1
    with pytest.raises(KernelRangeError, match="2\\^30"):
        check_lstm(RecurrentParams(wx_shift, uh_shift, pre_shift, 0), replace(weights, bias=over), 128)


@pytest.mark.parametrize(("wx_shift", "uh_shift", "pre_shift"), [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)])
def test_fine_pre_activations_match_twin(host: HostKernels, wx_shift: int, uh_shift: int, pre_shift: int) -> None:
    """Small integers with pre_shift 0 or 1, so that the gates' inputs stay within the tables' range and one unit of
    the accumulator moves an index: every rounding (of the cell state, of c' read in Q12, of the state, of the
    output) shows. (Checked by mutation: c' floored instead of rounded, or round_shift(c', 3) floored, fails this
    test.)"""
    rng = np.random.default_rng(7700 + 100 * wx_shift + 10 * uh_shift + pre_shift)
    n_in, n_h, steps = 5, 7, 30
    w = rng.integers(-30, 31, (4 * n_h, n_in)).astype(np.int16)
    u = (rng.integers(-1, 2, (4 * n_h, n_h)) * (rng.random((4 * n_h, n_h)) < 0.3)).astype(np.int16)
    weights = LSTMWeights(w, u, rng.integers(-3000, 3001, 4 * n_h).astype(np.int32))
    x = rng.integers(-128, 128, (3, steps, n_in), dtype=np.int8)
    for out_shift in (1, 8, 9):
        params = RecurrentParams(wx_shift, uh_shift, pre_shift, out_shift)
        check_lstm(params, weights, 128)
        assert_c_matches_twin(host, params, weights, x)
        assert_c_matches_twin(host, replace(params, reverse=1), weights, x)


@pytest.mark.parametrize("seed", range(6))
def test_biases_only_match_twin(host: HostKernels, seed: int) -> None:
    """Zero weights, so the states run on the biases alone: quantized from a float LSTM (then the twin also agrees
    with torch to within an output step), and as integers up to 2^29 at every pre_shift."""
    rng = np.random.default_rng(7800 + seed)
    n_in, n_h, steps = int(rng.integers(1, 9)), int(rng.integers(1, 40)), int(rng.integers(1, 30))
    lstm = torch_lstm(seed, n_in, n_h, 3.0)
    with torch.no_grad():
        lstm.weight_ih_l0.zero_()
        lstm.weight_hh_l0.zero_()
    params, weights = quantized(lstm, -5, -7)
    x = rng.integers(-128, 128, (2, steps, n_in), dtype=np.int8)
    out = assert_c_matches_twin(host, params, weights, x)
    reference = lstm(torch.tensor(x * 2.0**-5))[0].detach().numpy()
    assert np.abs(out * 2.0**-7 - np.clip(reference, -1, 127 / 128)).max() <= 2.0**-7
    zero_w, zero_u = np.zeros((4 * n_h, n_in), np.int16), np.zeros((4 * n_h, n_h), np.int16)
    weights = LSTMWeights(zero_w, zero_u, rng.integers(-(2**29), 2**29, 4 * n_h).astype(np.int32))
    for pre_shift in (0, 5, 14):
        params = RecurrentParams(
            int(rng.integers(0, 31)), int(rng.integers(0, 31)), pre_shift, int(rng.integers(0, 16))
        )
        check_lstm(params, weights, 128)
        assert_c_matches_twin(host, params, weights, x)


@pytest.mark.parametrize("seed", range(4))
def test_growing_cell_state_matches_twin_and_torch(host: HostKernels, seed: int) -> None:
    """The input and forget gates biased to ~1 (+8) and the cell gate to +-1 (+-4 by unit) from PyTorch's
    initialisation, over 150 steps: each cell state moves by about 1 a step, so |c| passes 2 (2^16 in Q15: f * c past
    int32, the 64-bit sum) within three steps, stays past 4 (the end of tanh's table: its clamp) from the tenth on,
    and ends near 100. C == twin in both directions; the twin stays within an output step of torch (whose tanh(c) is 1
    where the table's last bin is 32746 / 32768: 6.7e-4 off)."""
    rng = np.random.default_rng(7900 + seed)
    n_in, n_h, steps = int(rng.integers(1, 17)), int(rng.integers(1, 24)), 150
    lstm = torch_lstm(seed, n_in, n_h)
    with torch.no_grad():
        lstm.bias_ih_l0[: 2 * n_h] += 8.0
        lstm.bias_ih_l0[2 * n_h : 3 * n_h] += torch.tensor(np.where(np.arange(n_h) % 2 == 0, 4.0, -4.0))
    params, weights = quantized(lstm, -5, -7)
    x = rng.integers(-128, 128, (3, steps, n_in), dtype=np.int8)
    cells = cell_states(params, weights, x)
    assert np.abs(cells[:, 2]).min() > 2**16 and np.abs(cells[:, 9:]).min() > 4 * 2**15
    assert np.abs(cells).max() > 100 * 2**15
    out = assert_c_matches_twin(host, params, weights, x)
    assert_c_matches_twin(host, replace(params, reverse=1), weights, x)
    assert_c_matches_twin(host, replace(params, last_only=1, out_shift=0), weights, x)
    reference = lstm(torch.tensor(x * 2.0**-5))[0].detach().numpy()
    assert np.abs(out * 2.0**-7 - np.clip(reference, -1, 127 / 128)).max() <= 2.0**-7


def test_cell_state_near_its_limit_matches_twin(host: HostKernels) -> None:
    """Saturated gates on biases alone (i = f = 32757, g = +-32746) for 5000 steps: |c| climbs past 3/4 of its fixed
    point 32757 * 32746 / 11 ~ 9.75e7 < 2^27 (lstm_s8.c's bound), f * c to ~2^41, and stays int32 (the twin
    checks); C == twin at every step. (Checked by mutation: f * c in 32 bits fails this test.)"""
    n_h, steps = 4, 5000
    bias = np.array([2**29] * 2 * n_h + [2**29, -(2**29)] * (n_h // 2) + [2**29] * n_h, dtype=np.int32)
    bias[3 * n_h + 1] = -(2**29)  # one output gate closed: that unit's state ~0 while its cell grows
    weights = LSTMWeights(np.zeros((4 * n_h, 3), np.int16), np.zeros((4 * n_h, n_h), np.int16), bias)
    params = RecurrentParams(0, 0, 14, 8)
    check_lstm(params, weights, 128)
    x = np.random.default_rng(79).integers(-128, 128, (2, steps, 3), dtype=np.int8)
    cells = cell_states(params, weights, x)
    assert 0.75 * 32757 * 32746 / 11 < np.abs(cells).max() < 2**27
    assert_c_matches_twin(host, params, weights, x)
    assert_c_matches_twin(host, replace(params, out_shift=15, reverse=1), weights, x)


@pytest.mark.parametrize(("scale", "tolerance_steps"), [(1.0, 1.0), (2.0, 1.5)])
def test_twin_tracks_torch_lstm(scale: float, tolerance_steps: float) -> None:
    """The twin's int8 output (exponent -7) against torch.nn.LSTM in float64 on the same dequantised frames, over 24
    random LSTMs (1..64 in, 1..96 hidden, 1..40 steps, batch 3).

    The tolerance: the output's own rounding is half a step (mean a quarter); the int8 range stops at 127/128, so
    torch is clipped there. The rest is the arithmetic: the gates read from the nearest of 8192 bins (tanh: error
    <= 2^-11 plus its tail beyond 4, 6.7e-4; sigmoid <= 3.4e-4), tanh(c) likewise, the Q15 states and the int16
    weights (2^-16 relative), about 1e-3 per step; the cell carries it on scaled by f < 1 and h = o * tanh(c) does not
    amplify it, so at PyTorch's initialisation the state is measured within 0.27 step of torch (0.63 in all with the
    rounding), hence 1 step; at twice those weights the gates are steeper (state within 0.6 step, 0.84 in all),
    hence 1.5."""
    errors, means = [], []
    for seed in range(24):
        rng = np.random.default_rng(7600 + seed)
        n_in, n_h, steps = int(rng.integers(1, 65)), int(rng.integers(1, 97)), int(rng.integers(1, 41))
        lstm = torch_lstm(seed, n_in, n_h, scale)
        reverse = seed % 2 == 1
        params, weights = quantized(lstm, -5, -7, reverse)
        x = rng.integers(-128, 128, (3, steps, n_in), dtype=np.int8)
        out = lstm_s8(params, weights, x) * 2.0**-7
        frames = torch.tensor((x[:, ::-1] if reverse else x) * 2.0**-5)
        reference = lstm(frames)[0].detach().numpy()
        reference = np.clip(reference[:, ::-1] if reverse else reference, -1, 127 / 128)
        error = np.abs(out - reference) * 2.0**7
        errors.append(error.max())
        means.append(error.mean())
    assert max(errors) <= tolerance_steps, errors
    assert max(means) <= 0.35, means


def test_buffer_size_is_the_twins(host: HostKernels) -> None:
    for n_in, n_h in [(1, 1), (1, 2), (2, 1), (3, 3), (32, 64), (13, 33), (64, 96), (7, 255), (1000, 1)]:
        weights = LSTMWeights(
            np.zeros((4 * n_h, n_in), np.int16), np.zeros((4 * n_h, n_h), np.int16), np.zeros(4 * n_h, np.int32)
        )
        size = host.lstm_get_buffer_size(weights)
        assert size == lstm_buffer_size(weights) and size % 4 == 0
        assert size >= 20 * n_h + 2 * (2 * n_h + n_in)


@pytest.mark.parametrize(("n_in", "n_h"), [(5, 3), (6, 4), (8, 8), (1, 1)])
def test_scratch_and_output_stay_in_bounds(host: HostKernels, n_in: int, n_h: int) -> None:
    """The kernel writes nothing past lstm_buffer_size bytes of scratch nor past its output (both followed by guard
    bytes), in every layout of the C (odd, even and multiple-of-8 sizes)."""
    rng = np.random.default_rng(n_in * 10 + n_h)
    params, weights = quantized(torch_lstm(n_in, n_in, n_h), -5, -7)
    x = rng.integers(-128, 128, (2, 5, n_in), dtype=np.int8)
    held, size = _RecurrentWeights(weights), lstm_buffer_size(weights)
    scratch = np.full(size + 64, 0x5A, dtype=np.uint8)
    assert scratch.ctypes.data % 4 == 0
    output = np.full(2 * 5 * n_h + 64, 0x5A, dtype=np.uint8)
    status = host.lib.lstm_s8(
        ctypes.byref(CContext(scratch.ctypes.data, size)),
        ctypes.byref(_struct(params)),
        ctypes.byref(held.struct),
        ctypes.byref(CDims(2, 1, 5, n_in)),
        x.ctypes.data_as(ctypes.c_void_p),
        output.ctypes.data_as(ctypes.c_void_p),
    )
    assert status == 0
    np.testing.assert_array_equal(output[: 2 * 5 * n_h].view(np.int8).reshape(2, 5, n_h), lstm_s8(params, weights, x))
    assert (scratch[size:] == 0x5A).all() and (output[2 * 5 * n_h :] == 0x5A).all()


@pytest.fixture(scope="module")
def small_lstm() -> tuple[RecurrentParams, LSTMWeights, np.ndarray]:
    params, weights = quantized(torch_lstm(5, 6, 4), -5, -7)
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
        {"last_only": -1},
        {"act_min": 10, "act_max": 9},
        {"act_min": -129},
        {"act_max": 128},
    ],
    ids=lambda bad: ",".join(f"{k}={v}" for k, v in bad.items()),
)
def test_bad_params_are_refused(host: HostKernels, small_lstm, bad: dict[str, int]) -> None:
    params, weights, x = small_lstm
    host.lstm_s8(params, weights, x)  # the same call with good params: fine
    with pytest.raises(HostKernelError, match="lstm_s8 returned status -1"):
        host.lstm_s8(replace(params, **bad), weights, x)


def test_bad_shapes_and_scratch_are_refused(host: HostKernels, small_lstm) -> None:
    params, weights, x = small_lstm
    host.lstm_s8(params, weights, x, scratch_bytes=lstm_buffer_size(weights))  # exactly the size: fine
    for kwargs in (
        {"scratch_bytes": lstm_buffer_size(weights) - 1},
        {"scratch_bytes": 0},
        {"input_dims": (2, 2, 3, 6)},  # h != 1
        {"input_dims": (2, 1, 3, 5)},  # c != input_size
        {"input_dims": (0, 1, 3, 6)},  # no batch
        {"input_dims": (2, 1, 0, 6)},  # no steps
    ):
        with pytest.raises(HostKernelError):
            host.lstm_s8(params, weights, x, **kwargs)
    with pytest.raises(HostKernelError):
        host.lstm_s8(params, weights, x[:, :0])  # zero steps, from the array's shape
    empty = LSTMWeights(weights.w[:, :0].copy(), weights.u, weights.bias)  # input_size 0
    with pytest.raises(HostKernelError):
        host.lstm_s8(params, empty, x[:, :, :0])
    with pytest.raises(TypeError, match="expected \\[batch, steps, 6\\]"):
        host.lstm_s8(params, weights, x[:, :, :5])


def test_null_pointers_and_misaligned_scratch_are_refused(host: HostKernels, small_lstm) -> None:
    params, weights, x = small_lstm
    held = _RecurrentWeights(weights)
    size = lstm_buffer_size(weights)
    scratch = np.zeros(size // 4 + 2, dtype=np.int32)
    output = np.zeros((2, 3, 4), dtype=np.int8)
    c_params, dims = _struct(params), CDims(2, 1, 3, 6)
    xp, op = x.ctypes.data_as(ctypes.c_void_p), output.ctypes.data_as(ctypes.c_void_p)

    def call(context, c_params=c_params, c_weights=held.struct, dims=dims, xp=xp, op=op) -> int:
        refs = [None if a is None else ctypes.byref(a) for a in (context, c_params, c_weights, dims)]
        return host.lib.lstm_s8(*refs, xp, op)

    assert call(CContext(scratch.ctypes.data, size)) == 0
    np.testing.assert_array_equal(output, lstm_s8(params, weights, x))
    assert call(CContext(scratch.ctypes.data + 2, size)) == -1  # not 4-byte aligned
    assert call(CContext(None, size)) == -1
    assert call(None) == -1
    context = CContext(scratch.ctypes.data, size)
    for kwargs in ({"c_params": None}, {"c_weights": None}, {"dims": None}, {"xp": None}, {"op": None}):
        assert call(context, **kwargs) == -1, kwargs
    for field in ("w", "u", "bias"):
        nulled = _RecurrentWeights(weights)
        setattr(nulled.struct, field, None)
        assert call(context, c_weights=nulled.struct) == -1, field
