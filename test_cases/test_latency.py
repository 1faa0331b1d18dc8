"""Latency: one warm-up, then repeated runs on the inputs already on the device; median and p95."""

from __future__ import annotations

import math
import statistics

import numpy as np

from hil.board_description import load_board
from hil.catalog.spec import ModelSpec
from hil.dut import Dut
from hil.link.messages import INPUT_HEADER_BYTES
from hil.plugin.options import HilOptions
from hil.plugin.results_fixture import TestRecord
from hil.report.figures import latency_histogram

RUNS = 10


def test_latency_is_measured_and_repeatable(
    dut: Dut, hil_results: TestRecord, hil_options: HilOptions, model_spec: ModelSpec
) -> None:
    """The median of RUNS inferences, held to the latency budget: --hil-latency-budget in the run's unit, else the
    model's instruction budget under an emulator (a board counts cycles, which no instruction count bounds)."""
    dut.infer([np.zeros(spec.shape, dtype=spec.numpy_dtype) for spec in dut.info.inputs])
    timings = dut.time_runs(RUNS)
    silicon = timings[0].silicon
    values = [t.cycles if silicon else t.instructions for t in timings]
    counted = "cycles" if silicon else "instructions"
    unit = counted if silicon else f"{counted} (virtual, not silicon time)"
    ordered = sorted(values)
    median = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    budget = hil_options.latency_budget or (None if silicon else model_spec.budgets.latency_instructions)
    hil_results.metric("latency_median", median, unit, threshold=budget)
    hil_results.metric("latency_p95", p95, unit)
    if silicon:
        hil_results.metric("latency_median_s", median / dut.info.core_clock_hz, "s")
    else:
        # An estimate only: one instruction per cycle, at the clock of the board the emulator stands in for.
        silicon_board = load_board(dut.board.stand_in_for) if dut.board.stand_in_for else dut.board
        estimate = median / silicon_board.core_clock_hz
        hil_results.metric(
            f"latency_estimate_s_at_{silicon_board.core_clock_hz // 1_000_000}_mhz",
            estimate,
            f"s (estimate for {silicon_board.name}: 1 instruction per cycle; not measured)",
        )
    hil_results.image("latency", latency_histogram(values, unit, f"{RUNS} runs after one warm-up"))
    assert median > 0, "the device timer did not advance during inference"
    assert budget is None or median <= budget, (
        f"latency median {median:,.0f} {counted} over the budget of {budget:,} "
        f"({'--hil-latency-budget' if hil_options.latency_budget else 'the model spec'})"
    )
    if not silicon:
        # One timer tick (40 instructions) of jitter, and one more per wait for streamed input: the device takes each
        # wait's ticks out of the time, and both ends of a wait are whole ticks.
        streamed = sum(dut.info.inputs[i].nbytes for i in dut.info.streamed_inputs)
        ticks = 1 + math.ceil(streamed / (dut.info.max_payload - INPUT_HEADER_BYTES))
        assert ordered[-1] - ordered[0] <= 40 * ticks, f"emulated latency should repeat to {ticks} ticks, got {ordered}"
