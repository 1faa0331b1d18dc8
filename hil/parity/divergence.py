"""The first layer where the device leaves the integer reference: where to look when parity fails."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Divergence:
    layer: str
    index: int
    mismatched: int
    count: int
    first_position: tuple[int, ...]
    expected: int
    got: int

    def describe(self) -> str:
        return (
            f"first diverging layer: #{self.index} {self.layer}: {self.mismatched} of {self.count} values differ, "
            f"first at {self.first_position} (expected {self.expected}, got {self.got})"
        )


def first_divergence(reference: list[tuple[str, np.ndarray]], device: list[np.ndarray]) -> Divergence | None:
    """Walks the layers in execution order; None when every layer agrees bit for bit."""
    if len(device) != len(reference):
        raise ValueError(f"the device dumped {len(device)} layers, the reference has {len(reference)}")
    for index, ((name, expected), got) in enumerate(zip(reference, device, strict=True)):
        expected = np.asarray(expected)
        got = np.asarray(got).reshape(expected.shape)
        differ = expected != got
        if differ.any():
            position = tuple(int(i) for i in np.argwhere(differ)[0])
            return Divergence(
                name,
                index,
                int(differ.sum()),
                int(expected.size),
                position,
                int(expected[position]),
                int(got[position]),
            )
    return None
