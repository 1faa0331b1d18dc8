"""The fixed-point tanh and sigmoid of the FastGRNN kernel: a 513-point Q15 tanh table on [-8, 8],
linear interpolation, inputs in Q12. sigmoid(x) = (1 + tanh(x / 2)) / 2 reuses the same table."""

from __future__ import annotations

import functools

import numpy as np

TABLE_SIZE = 513
INPUT_FRAC_BITS = 12  # the nonlinearities read Q12
OUTPUT_ONE = 32768  # and write Q15


@functools.cache
def tanh_table() -> np.ndarray:
    """table[i] = clamp(round(32768 * tanh((i - 256) / 32)), -32767, 32767), numpy's round (half to even)."""
    i = np.arange(TABLE_SIZE)
    return np.clip(np.round(OUTPUT_ONE * np.tanh((i - 256) / 32.0)), -32767, 32767).astype(np.int16)


def tanh_q15(v: np.ndarray) -> np.ndarray:
    """hil_nn_tanh_q15: Q12 in, Q15 out in [-32767, 32767]."""
    table = tanh_table().astype(np.int64)
    u = np.clip(np.asarray(v, dtype=np.int64) + 32768, 0, 65535)
    i, f = u >> 7, u & 127
    t0 = table[i]
    return t0 + (((table[i + 1] - t0) * f + 64) >> 7)


def sigmoid_q15(v: np.ndarray) -> np.ndarray:
    """hil_nn_sigmoid_q15: Q12 in, Q15 out in [1, 32768]."""
    table = tanh_table().astype(np.int64)
    u = np.clip(np.asarray(v, dtype=np.int64) + 65536, 0, 131071)
    i, f = u >> 8, u & 255
    t0 = table[i]
    return (t0 + (((table[i + 1] - t0) * f + 128) >> 8) + 32769) >> 1


def max_abs_errors(limit: float = 20.0) -> dict[str, float]:
    """Max |fixed - float| of tanh_q15 and sigmoid_q15 over every Q12 input in [-limit, limit], in real units."""
    v = np.arange(-int(limit * 4096), int(limit * 4096) + 1, dtype=np.int64)
    x = v / 4096.0
    return {
        "tanh": float(np.abs(tanh_q15(v) / OUTPUT_ONE - np.tanh(x)).max()),
        "sigmoid": float(np.abs(sigmoid_q15(v) / OUTPUT_ONE - 1.0 / (1.0 + np.exp(-x))).max()),
    }
