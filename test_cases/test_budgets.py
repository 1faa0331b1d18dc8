"""RAM and flash of the firmware against the budgets: the model's published figures, or the board's."""

from __future__ import annotations

import numpy as np

from hil.build.firmware_builder import LINK_BUFFER_BYTES, OTHER_STATIC_BYTES, STACK_MARGIN_BYTES
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
    breakdown = footprint.ram_breakdown(ram_budget)
    hil_results.table(
        "RAM and CCM reserved at link time, against the budget",
        [{"part": key.removesuffix("_bytes").replace("_", " "), "bytes": value} for key, value in breakdown.items()]
        + [{"part": "stack high-water (measured)", "bytes": run.stack_high_water}],
    )
    biggest = ", ".join(f"{s.name} {s.size:,} B" for s in footprint.biggest_symbols[:5])
    assert footprint.flash_bytes <= flash_budget, (
        f"flash {footprint.flash_bytes:,} B over the budget of {flash_budget:,} B; biggest: {biggest}"
    )
    assert ram_in_use <= ram_budget, (
        f"RAM {ram_in_use:,} B (static {footprint.ram_bytes + footprint.ccm_bytes:,} B less the unused stack) "
        f"over the budget of {ram_budget:,} B; biggest: {biggest}"
    )


def test_stack_reservation_covers_the_high_water_mark(dut: Dut, hil_results: TestRecord) -> None:
    """The stack reservation is the measured high-water mark plus a stated margin: a model or kernel whose stack
    grows into the margin fails here, before it can overflow into the link buffers below the stack."""
    run = dut.infer([np.zeros(spec.shape, dtype=spec.numpy_dtype) for spec in dut.info.inputs])
    hil_results.metric("stack_margin_bytes", dut.info.stack_bytes - run.stack_high_water, "B")
    assert run.stack_high_water + STACK_MARGIN_BYTES <= dut.info.stack_bytes, (
        f"stack high-water {run.stack_high_water:,} B leaves less than the {STACK_MARGIN_BYTES:,} B margin of the "
        f"{dut.info.stack_bytes:,} B reservation: raise STACK_BYTES in hil/build/firmware_builder.py"
    )


def test_compile_estimate_matches_the_linked_image(dut: Dut) -> None:
    """`hil compile` estimates RAM before linking from the builder's figures; they must be what the linker made."""
    breakdown = dut.image.footprint.ram_breakdown()
    assert breakdown["arena_bytes"] == dut.info.arena_bytes
    assert breakdown["stack_reservation_bytes"] == dut.info.stack_bytes
    assert breakdown["link_buffer_bytes"] == LINK_BUFFER_BYTES[dut.image.transport], (
        f"link buffers are {breakdown['link_buffer_bytes']:,} B over {dut.image.transport}: update LINK_BUFFER_BYTES"
    )
    assert 0 <= breakdown["other_static_bytes"] <= OTHER_STATIC_BYTES
