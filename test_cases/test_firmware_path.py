"""The firmware path on the device under test, with the built-in test model: exact outputs,
memory within the board's budgets, and repeatable latency."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from hil import conv_test_model
from hil.dut import Dut
from hil.plugin.options import HilOptions
from hil.plugin.results_fixture import TestRecord
from hil.report.figures import budget_bars, latency_histogram

SEEDS = range(4)
LATENCY_RUNS = 20


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


def test_memory_fits_the_budgets(test_model_dut: Dut, hil_options: HilOptions, hil_results: TestRecord) -> None:
    board, footprint = test_model_dut.board, test_model_dut.image.footprint
    run = test_model_dut.infer([np.zeros(conv_test_model.INPUT.shape, dtype=np.int8)])
    ram_in_use = footprint.ram_bytes + footprint.ccm_bytes - test_model_dut.info.stack_bytes + run.stack_high_water
    ram_budget = hil_options.ram_budget or board.ram_budget
    flash_budget = hil_options.flash_budget or board.flash_budget
    hil_results.metric("flash_bytes", footprint.flash_bytes, "B", threshold=flash_budget)
    hil_results.metric("ram_bytes", ram_in_use, "B", threshold=ram_budget)
    hil_results.metric("stack_high_water_bytes", run.stack_high_water, "B")
    hil_results.image(
        "memory against budget",
        budget_bars(
            {"flash": footprint.flash_bytes, "RAM": ram_in_use},
            {"flash": flash_budget, "RAM": ram_budget},
            f"{board.name}: memory against budget",
        ),
    )
    hil_results.table(
        "biggest symbols",
        [{"symbol": s.name, "region": s.region, "bytes": s.size} for s in footprint.biggest_symbols[:8]],
    )
    biggest = ", ".join(f"{s.name} {s.size:,} B" for s in footprint.biggest_symbols[:5])
    assert footprint.flash_bytes <= flash_budget, (
        f"flash {footprint.flash_bytes:,} B over the budget of {flash_budget:,} B; biggest: {biggest}"
    )
    assert ram_in_use <= ram_budget, (
        f"RAM {ram_in_use:,} B (static {footprint.ram_bytes + footprint.ccm_bytes:,} B less the unused stack) "
        f"over the budget of {ram_budget:,} B; biggest: {biggest}"
    )


def test_latency_is_measured_and_repeatable(test_model_dut: Dut, hil_results: TestRecord) -> None:
    image = np.zeros(conv_test_model.INPUT.shape, dtype=np.int8)
    test_model_dut.infer([image])
    timings = test_model_dut.time_runs(LATENCY_RUNS)
    silicon = timings[0].silicon
    values = [t.cycles if silicon else t.instructions for t in timings]
    unit = "cycles" if silicon else "instructions (virtual, not silicon time)"
    median = statistics.median(values)
    p95 = sorted(values)[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    hil_results.metric("latency_median", median, unit)
    hil_results.metric("latency_p95", p95, unit)
    if not silicon:
        estimate_s = median / test_model_dut.board.core_clock_hz
        hil_results.metric("latency_estimate_at_board_clock_s", estimate_s, "s (estimate: 1 instruction per cycle)")
    hil_results.image("latency", latency_histogram(values, unit, f"{LATENCY_RUNS} runs after one warm-up"))
    assert median > 0, "the device timer did not advance during inference"
    if not silicon:
        assert max(values) - min(values) <= 40, f"emulated latency should repeat to one tick, got {sorted(values)}"
