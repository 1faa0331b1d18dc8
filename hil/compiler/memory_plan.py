"""Places every tensor and scratch buffer at an offset in one arena from live ranges: greedy first-fit, largest
first (SeeDot's and tinyengine's scheme). concat_rows outputs hold their inputs in place (each head writes its
rows straight into the model output), so those inputs share the output's buffer."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hil.compiler.qgraph import QGraph
from hil.compiler.row_alias import row_aliases
from hil.compiler.schedule import Step, align, reorder, schedule
from hil.errors import CompileError

STREAMED_INPUT = 0xFFFFFFFF  # HIL_STREAMED_INPUT (hil_model.h): the offset of an input read by rows, never placed


@dataclass(frozen=True)
class Buffer:
    """A block of the arena live from step first to step last (inclusive)."""

    name: str
    size: int
    first: int
    last: int


@dataclass
class MemoryPlan:
    offsets: dict[str, int]  # tensor or '<step>:<scratch>' name -> arena offset
    buffers: list[Buffer]
    arena_bytes: int
    lower_bound: int  # the most bytes live at any one step (an aliased pair counted once): no placement can use less
    aliases: dict[str, tuple[str, int]] = field(default_factory=dict)  # row_alias: output -> (input, delta)

    def overlap_bytes(self, output: str) -> int:
        """Bytes an aliased output shares with its input (0 when it is not aliased)."""
        if output not in self.aliases:
            return 0
        source = self.aliases[output][0]
        sizes = {b.name: b.size for b in self.buffers}
        a, b = self.offsets[source], self.offsets[output]
        return max(0, min(a + sizes[source], b + sizes[output]) - max(a, b))

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs of buffers live at the same step whose bytes overlap (empty for a valid plan); an output and the
        input rows it overwrites (aliases) are a pair by design."""
        allowed = {(out, source) for out, (source, _) in self.aliases.items()}
        bad = []
        for i, a in enumerate(self.buffers):
            for b in self.buffers[i + 1 :]:
                live = a.first <= b.last and b.first <= a.last
                oa, ob = self.offsets[a.name], self.offsets[b.name]
                aliased = {(a.name, b.name), (b.name, a.name)} & allowed
                if live and oa < ob + b.size and ob < oa + a.size and not aliased:
                    bad.append((a.name, b.name))
        return bad


def in_place_members(graph: QGraph, steps: list[Step]) -> dict[str, tuple[str, int]]:
    """tensor -> (concat_rows output, byte offset in it) for concat inputs a step writes straight into place."""
    produced = {s.output for s in steps}
    seen: dict[str, int] = {}
    for step in steps:
        for t in step.inputs:
            seen[t] = seen.get(t, 0) + 1
    members = {}
    for step in steps:
        node = step.nodes[0]
        if step.kind != "node" or node.kernel != "concat_rows":
            continue
        offset = 0
        for t in node.inputs:
            if t in produced and seen[t] == 1 and t not in graph.outputs and t not in members:
                members[t] = (node.output, offset)
            offset += graph.tensors[t].nbytes
    return members


# Placement orders tried; the plan keeps the smallest arena. Largest first is SeeDot's and tinyengine's; by
# start time suits chains whose big maps each die one step after the next is born.
ORDERS = (
    lambda b: (-b.size, b.first, b.name),
    lambda b: (b.first, -b.size, b.name),
    lambda b: (-b.size * (b.last - b.first + 1), b.name),
    lambda b: (-(b.last - b.first), -b.size, b.name),
)


Group = list[tuple[Buffer, int]]  # buffers placed together, each at the group's offset + its own

# The final plan of a schedule (plan(..., compact=True)) starts from the best order and, while its arena exceeds
# the most bytes live at one step, moves one group to another place in the sequence at a time, keeping moves that
# need no more bytes (a local search over first-fit sequences: the orders alone left the streamed face models
# 152 B and 2,560 B above that bound; tens of moves close both). Seeded, so a compile is reproducible.
COMPACT_MOVES = 2000
COMPACT_SEED = 0


def _groups(buffers: list[Buffer], aliases: dict[str, tuple[str, int]]) -> list[Group]:
    """Chains of aliased buffers (input, its step's output at input + delta, ...), each member at a relative
    offset >= 0; every other buffer alone."""
    by_name = {b.name: b for b in buffers}
    relative = {b.name: 0 for b in buffers}
    root = {b.name: b.name for b in buffers}
    for b in buffers:  # buffers come in production order, so an input's chain is built before its output joins
        if b.name in aliases:
            source, delta = aliases[b.name]
            root[b.name] = root[source]
            relative[b.name] = relative[source] + delta
    chains: dict[str, Group] = {}
    for b in buffers:
        chains.setdefault(root[b.name], []).append((b, relative[b.name]))
    groups = []
    for members in chains.values():
        low = min(rel for _, rel in members)
        groups.append([(by_name[b.name], rel - low) for b, rel in members])
    return groups


def _extent(group: Group) -> Buffer:
    """The group as one block: for the placement orders."""
    return Buffer(
        group[0][0].name,
        max(rel + b.size for b, rel in group),
        min(b.first for b, _ in group),
        max(b.last for b, _ in group),
    )


def _first_fit(sequence: list[Group]) -> dict[str, int]:
    """Each group in turn at the lowest offset where it overlaps nothing placed that is live when it is."""
    placed: list[tuple[Buffer, int]] = []
    offsets = {}
    for group in sequence:
        busy = [
            (off - rel, off + b.size - rel, member.size)
            for member, rel in group
            for b, off in placed
            if b.first <= member.last and member.first <= b.last
        ]
        candidates = sorted({0} | {align(end) for _, end, _ in busy if end > 0})
        for base in candidates:
            if all(base + member_size <= start or base >= end for start, end, member_size in busy):
                break
        for member, rel in group:
            offsets[member.name] = base + rel
            placed.append((member, base + rel))
    return offsets


def plan(graph: QGraph, steps: list[Step], alias_rows: bool = True, compact: bool = False) -> MemoryPlan:
    """The arena layout of the scheduled graph; alias_rows lets row-streamed outputs overwrite consumed input rows
    (row_alias.py); compact searches for a placement down to the live-set bound (slower: for the final plan)."""
    members = in_place_members(graph, steps)
    last = len(steps) - 1
    streamed = {s.inputs[0] for s in steps if s.kind == "front"}
    first_use = {t: -1 for t in graph.inputs if t not in streamed}
    last_use: dict[str, int] = {}
    for i, step in enumerate(steps):
        first_use.setdefault(step.output, i)
        for t in step.inputs:
            last_use[t] = i
    for t in streamed:
        del last_use[t]
    for t in graph.outputs:
        last_use[t] = last
    # A concat's buffer is live from its first member's write to its last reader.
    for member, (root, _) in members.items():
        first_use[root] = min(first_use[root], first_use[member])
    buffers = []
    for t, first in first_use.items():
        if t in members:
            continue
        if t not in last_use:
            raise CompileError(f"tensor {t} is computed but never used")
        buffers.append(Buffer(t, align(graph.tensors[t].nbytes), max(first, 0), last_use[t]))
    for i, step in enumerate(steps):
        buffers += [Buffer(f"{i}:{name}", size, i, i) for name, size in step.scratch.items()]
    concat_buffers = set(members) | {root for root, _ in members.values()}
    aliases = row_aliases(graph, steps, last_use, concat_buffers) if alias_rows else {}
    aliases = _cut_chains(buffers, aliases, len(steps))
    bound = max(_step_bytes(buffers, aliases, len(steps)), default=0)
    offsets = _place(buffers, aliases, bound if compact else None)
    for member, (root, delta) in members.items():
        offsets[member] = offsets[root] + delta
    arena = max((offsets[b.name] + b.size for b in buffers), default=0)
    offsets.update({t: STREAMED_INPUT for t in streamed})
    return MemoryPlan(offsets, buffers, align(arena), bound, aliases)


def _place(buffers: list[Buffer], aliases: dict[str, tuple[str, int]], bound: int | None = None) -> dict[str, int]:
    """The offsets of the placement order (ORDERS) that needs the fewest bytes; with a bound, then compacted
    towards it (COMPACT_MOVES)."""
    groups = _groups(buffers, aliases)

    def arena(offsets: dict[str, int]) -> int:
        return align(max((offsets[b.name] + b.size for b in buffers), default=0))

    sequences = [sorted(groups, key=lambda g: order(_extent(g))) for order in ORDERS]
    best, sequence = min(((_first_fit(s), s) for s in sequences), key=lambda pair: arena(pair[0]))
    best_arena = arena(best)
    rng = random.Random(COMPACT_SEED)
    for _ in range(COMPACT_MOVES if bound is not None and len(sequence) > 1 else 0):
        if best_arena <= bound:
            break
        trial = list(sequence)
        trial.insert(rng.randrange(len(trial)), trial.pop(rng.randrange(len(trial))))
        offsets = _first_fit(trial)
        if (trial_arena := arena(offsets)) <= best_arena:
            best, sequence, best_arena = offsets, trial, trial_arena
    return best


def _step_bytes(buffers: list[Buffer], aliases: dict[str, tuple[str, int]], count: int) -> list[int]:
    """The bytes live at each step, an aliased output's overlap with its input (fixed by its delta) counted once."""
    sizes = {b.name: b.size for b in buffers}
    live = [0] * count
    for b in buffers:
        for i in range(b.first, b.last + 1):
            live[i] += b.size
    first = {b.name: b.first for b in buffers}
    for out, (source, delta) in aliases.items():
        live[first[out]] -= max(0, min(sizes[source], delta + sizes[out]) - max(0, delta))
    return live


def _cut_chains(buffers: list[Buffer], aliases: dict[str, tuple[str, int]], count: int) -> dict[str, tuple]:
    """The aliases to keep. Each alias fixes an output's offset from its input, so a run of them (the image, stem,
    RNNPool, MBConv outputs...) is placed as one rigid block; residual blocks sit a row below their input, and
    over many steps the block drifts until its first, largest members stand far above the bytes live later.
    While the placement needs more than the most bytes live at one step, this drops, one at a time in production
    order, each alias whose step stays within that bound without it, when the arena shrinks."""
    if not aliases:
        return aliases
    bound = max(_step_bytes(buffers, aliases, count))

    def arena(chosen: dict) -> int:
        offsets = _place(buffers, chosen)
        return align(max(offsets[b.name] + b.size for b in buffers))

    best, best_arena = aliases, arena(aliases)
    for out in list(aliases):
        if best_arena <= bound:
            break
        trial = {k: v for k, v in best.items() if k != out}
        if max(_step_bytes(buffers, trial, count)) > bound:
            continue
        trial_arena = arena(trial)
        if trial_arena < best_arena:
            best, best_arena = trial, trial_arena
    return best


def scheduled_plan(graph: QGraph, fuse: bool = True, stream_input: bool = False) -> tuple[list[Step], MemoryPlan]:
    """The schedule whose plan needs the smallest arena (reorder looking ahead with this planner), and its plan;
    stream_input: the first steps run as one row pipeline reading the input by rows (schedule.stream_front)."""
    steps = schedule(graph, fuse, memory_order=False, stream_input=stream_input)
    steps = reorder(graph, steps, score=lambda s: _score(plan(graph, s)))
    return steps, plan(graph, steps, compact=True)


def _score(memory: MemoryPlan) -> tuple:
    """Arena bytes, then the steps' live bytes largest first (of two orders needing one arena, the one whose other
    steps hold less leaves room for what is left to change: a later layer streamed, a wider activation), then the
    bytes held over all steps (the one that frees earlier)."""
    count = max((b.last for b in memory.buffers), default=-1) + 1
    profile = sorted(_step_bytes(memory.buffers, memory.aliases, count), reverse=True)
    return memory.arena_bytes, profile, sum(b.size * (b.last - b.first + 1) for b in memory.buffers)
