"""Places every tensor and scratch buffer at an offset in one arena from live ranges: greedy first-fit, largest
first (SeeDot's and tinyengine's scheme). concat_rows outputs hold their inputs in place (each head writes its
rows straight into the model output), so those inputs share the output's buffer."""

from __future__ import annotations

from dataclasses import dataclass

from hil.compiler.qgraph import QGraph
from hil.compiler.schedule import Step, align
from hil.errors import CompileError


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
    lower_bound: int  # the most bytes live at any one step: no placement can use less

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs of buffers live at the same step whose bytes overlap (empty for a valid plan)."""
        bad = []
        for i, a in enumerate(self.buffers):
            for b in self.buffers[i + 1 :]:
                live = a.first <= b.last and b.first <= a.last
                oa, ob = self.offsets[a.name], self.offsets[b.name]
                if live and oa < ob + b.size and ob < oa + a.size:
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


def _first_fit(buffers: list[Buffer], order) -> dict[str, int]:
    placed: list[tuple[Buffer, int]] = []
    offsets = {}
    for buf in sorted(buffers, key=order):
        busy = sorted((off, off + b.size) for b, off in placed if b.first <= buf.last and buf.first <= b.last)
        offset = 0
        for start, end in busy:
            if offset + buf.size <= start:
                break
            offset = max(offset, align(end))
        offsets[buf.name] = offset
        placed.append((buf, offset))
    return offsets


def plan(graph: QGraph, steps: list[Step]) -> MemoryPlan:
    """The arena layout of the scheduled graph."""
    members = in_place_members(graph, steps)
    last = len(steps) - 1
    first_use = {t: -1 for t in graph.inputs}
    last_use: dict[str, int] = {}
    for i, step in enumerate(steps):
        first_use.setdefault(step.output, i)
        for t in step.inputs:
            last_use[t] = i
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
    offsets = min(
        (_first_fit(buffers, order) for order in ORDERS),
        key=lambda o: max((o[b.name] + b.size for b in buffers), default=0),
    )
    for member, (root, delta) in members.items():
        offsets[member] = offsets[root] + delta
    arena = max((offsets[b.name] + b.size for b in buffers), default=0)
    lower = max(sum(b.size for b in buffers if b.first <= i <= b.last) for i in range(len(steps)))
    return MemoryPlan(offsets, buffers, align(arena), lower)
