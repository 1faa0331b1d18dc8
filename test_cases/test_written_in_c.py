"""Models written directly in C (no float model): the device's output equals the host's exact computation."""

from __future__ import annotations

import numpy as np
import pytest

from hil.catalog import ModelSpec
from hil.dut import Dut
from hil.plugin.results_fixture import TestRecord

SEEDS = range(4)

pytestmark = pytest.mark.hil_written_in_c


@pytest.mark.parametrize("seed", SEEDS)
def test_device_output_equals_the_exact_host_computation(
    dut: Dut, model_spec: ModelSpec, seed: int, hil_results: TestRecord
) -> None:
    rng = np.random.default_rng(seed)
    inputs = [
        rng.integers(np.iinfo(spec.numpy_dtype).min, np.iinfo(spec.numpy_dtype).max, spec.shape, endpoint=True).astype(
            spec.numpy_dtype
        )
        for spec in dut.info.inputs
    ]
    run = dut.infer(inputs)
    expected = model_spec.reference(inputs)
    mismatched = sum(int(np.count_nonzero(o != e)) for o, e in zip(run.outputs, expected, strict=True))
    hil_results.metric("mismatched_values", mismatched, threshold=0, passed=mismatched == 0, item=f"seed {seed}")
    assert mismatched == 0, f"seed {seed}: {mismatched} output values differ from the host's"
