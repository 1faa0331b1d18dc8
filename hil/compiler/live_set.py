"""What is live in the arena at each step of a compiled model: the tensors and scratch buffers and their bytes.
The largest step is the memory plan's lower bound; the table says which layer to change to lower it."""

from __future__ import annotations

from dataclasses import dataclass

from hil.compiler.memory_plan import MemoryPlan
from hil.compiler.progress import counted
from hil.compiler.schedule import Step


@dataclass(frozen=True)
class LiveSet:
    """The buffers live while step `index` runs (a concat's members count inside the concat's buffer)."""

    index: int
    step: str
    buffers: tuple[tuple[str, int], ...]  # (what holds it, bytes), largest first: see buffer_label and live_sets

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.buffers)

    def to_dict(self) -> dict:
        return {
            "step": self.index,
            "name": self.step,
            "bytes": self.bytes,
            "buffers": [{"name": name, "bytes": size} for name, size in self.buffers],
        }


def buffer_label(name: str, steps: list[Step]) -> str:
    """A plan buffer named for a person: '<step> out [tensor]' for a step's output, '<step> <scratch>' for its
    scratch, the tensor's name for a model input."""
    index, sep, scratch = name.partition(":")
    if sep and index.isdigit():
        return f"{steps[int(index)].name} {scratch}"
    producers = {s.output: s.name for s in steps}
    return f"{producers[name]} out [{name}]" if name in producers else f"input [{name}]"


def live_sets(memory: MemoryPlan, steps: list[Step]) -> list[LiveSet]:
    """One LiveSet per step, in execution order. A step whose output overwrites the input rows it consumed
    (memory_plan's aliases) lists the bytes they share as a negative entry, so each set sums to its bytes."""
    first = {b.name: b.first for b in memory.buffers}
    sets = []
    for i, step in enumerate(steps):
        live = [(buffer_label(b.name, steps), b.size) for b in memory.buffers if b.first <= i <= b.last]
        live += [
            (f"{buffer_label(out, steps)} over {buffer_label(source, steps)}", -memory.overlap_bytes(out))
            for out, (source, _) in memory.aliases.items()
            if first[out] == i and memory.overlap_bytes(out)
        ]
        sets.append(LiveSet(i, step.name, tuple(sorted(live, key=lambda item: (-abs(item[1]), item[0])))))
    return sets


def largest(sets: list[LiveSet], count: int) -> list[LiveSet]:
    """The count steps with the most live bytes, largest first (ties in execution order)."""
    return sorted(sets, key=lambda s: (-s.bytes, s.index))[:count]


def table(sets: list[LiveSet], count: int = 5, names_per_step: int = 4) -> str:
    """A readable table of the largest live sets."""
    lines = [f"largest live sets (of {counted(len(sets), 'step')}):", f"{'#':>3} {'step':<28} {'live B':>9}  what"]
    for s in largest(sets, count):
        what = ", ".join(f"{name} {size:,}" for name, size in s.buffers[:names_per_step])
        more = len(s.buffers) - names_per_step
        what += f" (+{more} more)" if more > 0 else ""
        lines.append(f"{s.index:>3} {s.step[:28]:<28} {s.bytes:>9,}  {what}")
    return "\n".join(lines)
