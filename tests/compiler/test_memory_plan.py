"""The arena plan: no two live buffers overlap, concat inputs sit inside the output, MBConv blocks stream."""

from __future__ import annotations

import pytest

from hil.compiler.calibrate import profile
from hil.compiler.capture import capture
from hil.compiler.live_set import largest, live_sets
from hil.compiler.memory_plan import in_place_members, plan
from hil.compiler.passes import optimize
from hil.compiler.quantize import quantize
from hil.compiler.schedule import schedule
from tests.compiler.random_models import RandomModel

M4_RAM_BUDGET = 185 * 1024


@pytest.mark.parametrize("seed", range(8))
def test_random_plans_are_valid(seed: int) -> None:
    model = RandomModel(seed)
    graph = optimize(capture(model, model.example()))
    q = quantize(graph, profile(graph, [model.example(1).permute(0, 2, 3, 1).numpy()]))
    for fuse in (True, False):
        steps = schedule(q, fuse=fuse)
        memory = plan(q, steps)
        assert memory.overlaps() == []
        assert memory.lower_bound <= memory.arena_bytes
        for member, (root, delta) in in_place_members(q, steps).items():
            assert memory.offsets[member] == memory.offsets[root] + delta
        sets = live_sets(memory, steps)
        assert len(sets) == len(steps) and largest(sets, 1)[0].bytes == memory.lower_bound
        for live, step in zip(sets, steps, strict=True):
            # a step's scratch and output are live while it runs
            assert all(any(name.endswith(f" {s}") for name, _ in live.buffers) for s in step.scratch)


def test_face_model_plans(compiled_faces) -> None:
    for name, compiled in compiled_faces.items():
        memory = compiled.memory
        assert memory.overlaps() == []
        assert sum(s.kind == "mbconv" for s in compiled.steps) == {"m4": 4, "qvga": 14}[name]
        print(
            f"{name}: arena {memory.arena_bytes} B, lower bound {memory.lower_bound} B, "
            f"weights {compiled.emitted.flash_bytes} B, MACs {compiled.qgraph.macs}"
        )
        assert memory.arena_bytes < M4_RAM_BUDGET - 16 * 1024  # room for the stack and the link buffers
