"""Fixtures of the kernel tests: the kernels built for the host once per session (cached under build/host/)."""

from __future__ import annotations

import numpy as np
import pytest

from hil.host_build import HostKernels, build_shared_library
from hil.kernels_ref import FastGRNNParams, FastGRNNWeights, quantize_fastgrnn


@pytest.fixture(scope="session")
def host() -> HostKernels:
    return HostKernels(build_shared_library())


def random_cell(
    rng: np.random.Generator, n_in: int, n_h: int, x_exponent: int, x_max_abs: int, h_frac_bits: int, scale: float = 0.5
) -> tuple[FastGRNNParams, FastGRNNWeights, dict[str, np.ndarray | float]]:
    """A float FastGRNN cell with N(0, scale) weights (EdgeML layout) and its quantisation."""
    cell = {
        "W": rng.normal(0, scale, (n_in, n_h)),
        "U": rng.normal(0, scale, (n_h, n_h)),
        "bg": rng.normal(0, scale, n_h),
        "bh": rng.normal(0, scale, n_h),
        "zeta": float(rng.normal(1.0, 1.0)),
        "nu": float(rng.normal(-2.0, 1.0)),
    }
    params, weights, _ = quantize_fastgrnn(
        cell["W"], cell["U"], cell["bg"], cell["bh"], cell["zeta"], cell["nu"], x_exponent, x_max_abs, h_frac_bits
    )
    return params, weights, cell


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10(signal power / error power)."""
    noise = np.sum((np.asarray(reference) - np.asarray(estimate)) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(np.asarray(reference) ** 2) / noise))
