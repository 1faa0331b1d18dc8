"""The fixed-point tanh and sigmoid of the FastGRNN kernel: an 8192-point Q15 tanh table on [-4, 4), read directly
(no interpolation), inputs in Q12; sigmoid(x) = (1 + tanh(x / 2)) / 2 from a second table holding those values.

Why a direct table: interpolating the old 513-point table cost ~7 more instructions per evaluation, two evaluations
per hidden unit and step (about 40 M instructions of the M4 model's RNNPool). The resolution was chosen by
measurement (hil.compiler.bench_accuracy --model m4 --images 20: SNR of loc/conf against float on images 0-4):
2048 points on [-4, 4) lose 1.5-2 dB against interpolation; 8192 points on [-4, 4) (this table: error <= 2^-11 plus
tanh's tail beyond 4, 6.7e-4) are within 0.2 dB of it, as are 16384 points; 8192 on [-8, 8) lose 0.1-0.5 dB.
(AP@0.5 on 20 images moves by 0.01-0.03 between those equal-SNR tables: one detection; see the README.)
32 KB of flash for the two tables.
"""

from __future__ import annotations

import functools

import numpy as np

TABLE_BITS = 13
TABLE_SIZE = 2**TABLE_BITS  # tanh on [-4, 4): table[i] = tanh((i - TABLE_SIZE / 2) / TABLE_STEPS_PER_UNIT)
TABLE_STEPS_PER_UNIT = TABLE_SIZE // 8
INPUT_FRAC_BITS = 12  # the nonlinearities read Q12
OUTPUT_ONE = 32768  # and write Q15
TANH_INDEX_SHIFT = INPUT_FRAC_BITS - (TABLE_STEPS_PER_UNIT.bit_length() - 1)  # Q12 -> table steps
SIGMOID_INDEX_SHIFT = TANH_INDEX_SHIFT + 1  # sigmoid reads tanh at x / 2
# (v + offset) >> shift: the bin centred nearest v, TABLE_SIZE / 2 bins below zero
TANH_INDEX_OFFSET = (TABLE_SIZE // 2 << TANH_INDEX_SHIFT) + (1 << (TANH_INDEX_SHIFT - 1))
SIGMOID_INDEX_OFFSET = (TABLE_SIZE // 2 << SIGMOID_INDEX_SHIFT) + (1 << (SIGMOID_INDEX_SHIFT - 1))


@functools.cache
def tanh_table() -> np.ndarray:
    """table[i] = clamp(round(32768 * tanh((i - 4096) / 1024)), -32767, 32767), numpy's round (half to even)."""
    i = np.arange(TABLE_SIZE)
    x = (i - TABLE_SIZE // 2) / TABLE_STEPS_PER_UNIT
    return np.clip(np.round(OUTPUT_ONE * np.tanh(x)), -32767, 32767).astype(np.int16)


@functools.cache
def sigmoid_table() -> np.ndarray:
    """hil_sigmoid_table: min((tanh_table + 32769) >> 1, 32767), sigmoid at (i - 4096) / 512 in Q15, in [11, 32757]."""
    return np.minimum((tanh_table().astype(np.int32) + 32769) >> 1, 32767).astype(np.int16)


def tanh_index(v: np.ndarray) -> np.ndarray:
    """The table index of tanh at Q12 v: clamp((v + 16386) >> 2, 0, 8191)."""
    return np.clip((np.asarray(v, dtype=np.int64) + TANH_INDEX_OFFSET) >> TANH_INDEX_SHIFT, 0, TABLE_SIZE - 1)


def sigmoid_index(v: np.ndarray) -> np.ndarray:
    """The table index of sigmoid at Q12 v: clamp((v + 32772) >> 3, 0, 8191)."""
    return np.clip((np.asarray(v, dtype=np.int64) + SIGMOID_INDEX_OFFSET) >> SIGMOID_INDEX_SHIFT, 0, TABLE_SIZE - 1)


def tanh_q15(v: np.ndarray) -> np.ndarray:
    """hil_nn_tanh_q15: Q12 in, Q15 out in [-32767, 32767]."""
    return tanh_table().astype(np.int64)[tanh_index(v)]


def sigmoid_q15(v: np.ndarray) -> np.ndarray:
    """hil_nn_sigmoid_q15: Q12 in, Q15 out in [11, 32757]."""
    return sigmoid_table().astype(np.int64)[sigmoid_index(v)]


def max_abs_errors(limit: float = 20.0) -> dict[str, float]:
    """Max |fixed - float| of tanh_q15 and sigmoid_q15 over every Q12 input in [-limit, limit], in real units."""
    v = np.arange(-int(limit * 4096), int(limit * 4096) + 1, dtype=np.int64)
    x = v / 4096.0
    return {
        "tanh": float(np.abs(tanh_q15(v) / OUTPUT_ONE - np.tanh(x)).max()),
        "sigmoid": float(np.abs(sigmoid_q15(v) / OUTPUT_ONE - 1.0 / (1.0 + np.exp(-x))).max()),
    }
