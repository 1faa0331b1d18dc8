"""The firmware path with the built-in test model: the device's output equals the host's exact computation."""

from __future__ import annotations

import numpy as np
import pytest

from hil import conv_test_model
from hil.dut import Dut
from hil.plugin.results_fixture import TestRecord

SEEDS = range(4)


@pytest.fixture(scope="module")
def test_model_dut(dut: Dut) -> Dut:
    if dut.info.model_name != conv_test_model.NAME:
        pytest.skip(f"the device runs {dut.info.model_name}, these checks need {conv_test_model.NAME}")
    return dut


@pytest.mark.parametrize("seed", SEEDS)
def test_device_output_equals_the_exact_host_computation(
    test_model_dut: Dut, seed: int, hil_results: TestRecord
) -> None:
    image = np.random.default_rng(seed).integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
    run = test_model_dut.infer([image])
    expected = conv_test_model.reference(image)
    mismatched = int(np.count_nonzero(run.outputs[0] != expected))
    hil_results.metric("mismatched_values", mismatched, threshold=0, passed=mismatched == 0, item=f"seed {seed}")
    assert mismatched == 0, f"seed {seed}: {mismatched} of {expected.size} output values differ from the host's"
