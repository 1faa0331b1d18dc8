"""The shared fixed-point primitives, as the C header defines them (int64 numpy arithmetic)."""

from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class KernelRangeError(ValueError):
    """An integer a kernel computes would leave the range its C code proves safe (the C would overflow)."""


def round_shift(acc: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """hil_round_shift / hil_round_shift64: (acc + 2^(shift-1)) >> shift, halves up; shift <= 0 returns acc."""
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    positive = np.maximum(shift, 1)
    shifted = (acc + (np.int64(1) << (positive - 1))) >> positive
    return np.where(shift > 0, shifted, acc)


def clamp(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """hil_clamp."""
    return np.minimum(np.maximum(v, lo), hi)


def check_int32(values: np.ndarray, what: str, limit: int = 2**31) -> None:
    """Raises KernelRangeError when any |value| reaches limit (the C's int32 would overflow)."""
    values = np.asarray(values)
    if values.size and (values.max() >= limit or values.min() < -limit):
        raise KernelRangeError(f"{what} reaches {max(int(values.max()), -int(values.min()))}, limit {limit}")


def isqrt(v: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) exactly for 0 <= v < 2^52 (float sqrt, then corrected by one either way)."""
    v = np.asarray(v, dtype=np.int64)
    n = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    n = np.where(n * n > v, n - 1, n)
    return np.where((n + 1) * (n + 1) <= v, n + 1, n)
