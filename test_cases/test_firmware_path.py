"""The firmware path on the device under test, with the built-in test model: exact outputs,
memory within the board's budgets, and repeatable latency."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from hil import conv_test_model
from hil.dut import Dut

SEEDS = range(4)
LATENCY_RUNS = 5


@pytest.fixture(scope="module")
def test_model_dut(dut: Dut) -> Dut:
    if dut.info.model_name != conv_test_model.NAME:
        pytest.skip(f"the device runs {dut.info.model_name}, these checks need {conv_test_model.NAME}")
    return dut


@pytest.mark.parametrize("seed", SEEDS)
def test_device_output_equals_the_exact_host_computation(test_model_dut: Dut, seed: int, record_property) -> None:
    image = np.random.default_rng(seed).integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
    run = test_model_dut.infer([image])
    expected = conv_test_model.reference(image)
    mismatched = int(np.count_nonzero(run.outputs[0] != expected))
    record_property("mismatched_values", mismatched)
    record_property("timing", run.timing.label)
    assert mismatched == 0, f"seed {seed}: {mismatched} of {expected.size} output values differ from the host's"


def test_memory_fits_the_board_budgets(test_model_dut: Dut, record_property) -> None:
    board, footprint = test_model_dut.board, test_model_dut.image.footprint
    run = test_model_dut.infer([np.zeros(conv_test_model.INPUT.shape, dtype=np.int8)])
    ram_in_use = footprint.ram_bytes + footprint.ccm_bytes - test_model_dut.info.stack_bytes + run.stack_high_water
    record_property("flash_bytes", footprint.flash_bytes)
    record_property("ram_in_use_bytes", ram_in_use)
    assert footprint.flash_bytes <= board.flash_budget, (
        f"flash {footprint.flash_bytes:,} B over the budget of {board.flash_budget:,} B\n{footprint.summary()}"
    )
    assert ram_in_use <= board.ram_budget, (
        f"RAM {ram_in_use:,} B over the budget of {board.ram_budget:,} B\n{footprint.summary()}"
    )


def test_latency_is_measured_and_repeatable(test_model_dut: Dut, record_property) -> None:
    image = np.zeros(conv_test_model.INPUT.shape, dtype=np.int8)
    test_model_dut.infer([image])
    timings = [test_model_dut.infer([image]).timing for _ in range(LATENCY_RUNS)]
    ticks = sorted(t.ticks for t in timings)
    median = statistics.median(ticks)
    p95 = ticks[min(len(ticks) - 1, round(0.95 * (len(ticks) - 1)))]
    record_property("latency_median_ticks", median)
    record_property("latency_p95_ticks", p95)
    record_property("latency", timings[0].label)
    assert median > 0, "the device timer did not advance during inference"
    if not timings[0].silicon:
        assert p95 - ticks[0] <= 1, f"emulated latency should repeat to one tick, got {ticks}"
