"""RAM and flash of the firmware against the budgets: the model's published figures, or the board's."""

from __future__ import annotations

import numpy as np

from hil.dut import Dut
from hil.plugin.results_fixture import TestRecord
from hil.report.figures import budget_bars


def test_memory_fits_the_budgets(dut: Dut, model_budgets: tuple[int, int], hil_results: TestRecord) -> None:
    ram_budget, flash_budget = model_budgets
    footprint = dut.image.footprint
    zeros = [np.zeros(spec.shape, dtype=spec.numpy_dtype) for spec in dut.info.inputs]
    run = dut.infer(zeros)
    # Peak RAM: everything reserved at link time (arena, link buffers, .data/.bss) with the stack counted
    # by its measured high-water mark instead of its reservation.
    ram_in_use = footprint.ram_bytes + footprint.ccm_bytes - dut.info.stack_bytes + run.stack_high_water
    hil_results.metric("flash_bytes", footprint.flash_bytes, "B", threshold=flash_budget)
    hil_results.metric("ram_bytes", ram_in_use, "B", threshold=ram_budget)
    hil_results.metric("arena_bytes", dut.info.arena_bytes, "B")
    hil_results.metric("stack_high_water_bytes", run.stack_high_water, "B")
    hil_results.image(
        "memory against budget",
        budget_bars(
            {"flash": footprint.flash_bytes, "RAM": ram_in_use},
            {"flash": flash_budget, "RAM": ram_budget},
            f"{dut.info.model_name} on {dut.board.name}: memory against budget",
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
