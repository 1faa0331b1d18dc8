"""Outputs that overwrite the input rows they consumed: where the plan puts them and what it saves. That the C
computes the same bits with these plans is test_emit_c's (random models, both face models) and test_firmware's."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from hil.compiler.calibrate import profile
from hil.compiler.capture import capture
from hil.compiler.emit_c import emit
from hil.compiler.host_model import HostModel
from hil.compiler.live_set import live_sets
from hil.compiler.memory_plan import plan, scheduled_plan
from hil.compiler.passes import optimize
from hil.compiler.quantize import quantize
from hil.compiler.row_alias import alias_delta
from tests.compiler.random_models import RandomModel


@pytest.mark.parametrize("seed", range(4))
def test_random_models_alias_within_the_bound(seed: int) -> None:
    model = RandomModel(seed)
    graph = optimize(capture(model, model.example()))
    q = quantize(graph, profile(graph, [model.example(1).permute(0, 2, 3, 1).numpy()]))
    steps, memory = scheduled_plan(q)
    assert memory.overlaps() == [] and memory.lower_bound <= memory.arena_bytes
    produced_by = {s.output: s for s in steps}
    sizes = {b.name: b.size for b in memory.buffers}
    for out, (source, delta) in memory.aliases.items():
        assert memory.offsets[out] == memory.offsets[source] + delta
        assert delta == alias_delta(q, produced_by[out])
        assert delta + sizes[out] <= sizes[source]  # the output ends inside the input
    assert plan(q, steps).arena_bytes <= plan(q, steps, alias_rows=False).arena_bytes
    sets = live_sets(memory, steps)
    assert max(s.bytes for s in sets) == memory.lower_bound


def test_face_models_stream_the_first_layers_over_their_inputs(compiled_faces) -> None:
    for name, compiled in compiled_faces.items():
        memory = compiled.memory
        aliased = {s.name for s in compiled.steps if s.output in memory.aliases}
        # the image's bytes become the stem's output, those the RNNPool's, the pad's, then the first MBConv's
        assert {"conv.0", "rnn_model", "mob.0"} <= aliased, (name, aliased)
        stem = next(s for s in compiled.steps if s.name == "conv.0")
        # stem output row y (640 B) may not reach input row 2y - 1 (320 B rows): one and a half rows before it
        assert memory.aliases[stem.output][1] == -960
        assert memory.arena_bytes == memory.lower_bound <= 97_280, (name, memory.arena_bytes)


def test_heads_run_before_the_block_that_overwrites_their_source(compiled_faces) -> None:
    """The schedule runs the heads reading mob.0's output before mob.1, so mob.1 is its last reader and writes over
    the rows it consumed instead of beside a whole mob.0 output (97,440 B at loc.0 when loc.0 ran after mob.1)."""
    compiled = compiled_faces["m4"]
    names = [s.name for s in compiled.steps]
    source = next(s.output for s in compiled.steps if s.name == "mob.0")
    readers = [s.name for s in compiled.steps if source in s.inputs]
    assert set(readers) == {"conf.0", "loc.0", "mob.1"} and readers[-1] == "mob.1"
    mob1 = next(s for s in compiled.steps if s.name == "mob.1")
    assert compiled.memory.aliases[mob1.output][0] == source
    after_front = max(s.bytes for s in live_sets(compiled.memory, compiled.steps)[names.index("mob.0") + 1 :])
    assert after_front <= 66_000, after_front


def test_an_alias_chain_too_rigid_to_place_is_cut(compiled_faces) -> None:
    """qvga's aliases chain the image to the last MBConv; fixed end to end, its residual blocks (each a row below
    its input) drift it down 27 KB and the plan needed 103,360 B for a 97,280 B bound. The planner drops aliases
    that the bound does not need until the placement meets it."""
    compiled = compiled_faces["qvga"]
    steps, memory = compiled.steps, compiled.memory
    assert memory.arena_bytes == memory.lower_bound
    produced = {s.output for s in steps}
    possible = {s.output for s in steps if alias_delta(compiled.qgraph, s) is not None} & produced
    assert set(memory.aliases) < possible  # at least one alias was dropped


def test_an_alias_one_row_too_close_corrupts_the_output(compiled_faces, calibration_inputs, tmp_path) -> None:
    """The bound matters: the M4 stem's output moved one output row closer to its input overwrites input rows
    the stem still reads, and the C leaves the golden model. (The plan's own offsets give the golden bits:
    test_emit_c. Half a row closer happens to survive, by the kernel's pixel order; the bound is row-granular.)"""
    compiled = compiled_faces["m4"]
    stem = next(s for s in compiled.steps if s.name == "conv.0")
    memory = copy.deepcopy(compiled.memory)
    memory.offsets[stem.output] += 640  # one 160x4 output row
    sources = emit(compiled.qgraph, compiled.steps, memory, tmp_path / "c", "m4_too_close", ["input"], ["loc", "conf"])
    sources = sources.sources
    x = calibration_inputs[2]
    got = HostModel(sources, build_root=tmp_path / "host").run([compiled.qgraph.quantize_input(x)])
    assert any(not np.array_equal(g, e) for g, e in zip(got, compiled.golden(x), strict=True))
