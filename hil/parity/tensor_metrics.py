"""How close one tensor is to a reference: SNR, cosine similarity, max-abs and RMS error."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class TensorComparison:
    snr_db: float  # signal (reference) power over error power; inf when equal
    cosine: float
    max_abs_error: float
    rmse: float
    differing_values: int  # elements that differ at all (against float: expected; bit-exactness is elsewhere)
    count: int

    def to_dict(self) -> dict:
        return asdict(self)


def compare_tensors(reference: np.ndarray, test: np.ndarray) -> TensorComparison:
    """Compares test with reference, both as real values (dequantise integer tensors first)."""
    reference = np.asarray(reference, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if reference.shape != test.shape:
        raise ValueError(f"cannot compare a tensor of shape {test.shape} with a reference of shape {reference.shape}")
    error = test - reference
    signal_power = float(np.mean(reference**2))
    error_power = float(np.mean(error**2))
    if error_power == 0.0:
        snr = math.inf
    elif signal_power == 0.0:
        snr = -math.inf
    else:
        snr = 10.0 * math.log10(signal_power / error_power)
    norms = float(np.linalg.norm(reference) * np.linalg.norm(test))
    cosine = float(np.dot(reference.ravel(), test.ravel()) / norms) if norms else float(error_power == 0.0)
    return TensorComparison(
        snr_db=snr,
        cosine=cosine,
        max_abs_error=float(np.max(np.abs(error))) if error.size else 0.0,
        rmse=math.sqrt(error_power),
        differing_values=int(np.count_nonzero(error)),
        count=int(reference.size),
    )


def dequantise(values: np.ndarray, scale: float, zero_point: int = 0) -> np.ndarray:
    """Integer tensor -> real values, as the tensor's INFO describes it."""
    return (np.asarray(values, dtype=np.float64) - zero_point) * scale
