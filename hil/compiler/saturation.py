"""Which tensors of the integer model saturate on an input: values at the ends of their integer range, where the
float value was larger than the tensor's exponent and width can hold. Exponents are fitted to the calibration
inputs (and the exponent search may narrow them further), so an input unlike those (a dim picture, a bright
blob) can push a tensor past its range; the error that costs is not rounding, and more calibration inputs like
it, not wider tensors, is what helps. Measured 2026-12-06 on the catalog's QVGA over the first 100 synthetic test
images: 31 of them saturate more than 0.5 % of some tensor's values, mob.12's projection up to 45 %."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.compiler.ir import RESAMPLES
from hil.compiler.qgraph import QGraph

# The channel max, the channel permutation, the rows viewed as a map (and back, or transposed), a crop or subsample
# and the resampling moves
# copy their input's values, so they saturate where it does: counting them would name the same values twice.
COPIES = ("channel_max", "permute_channels", "unflatten", "flatten", "transpose_rows", "slice_pixels", *RESAMPLES)


@dataclass(frozen=True)
class Saturation:
    """A tensor with values at either end of its integer range on one input."""

    layer: str
    tensor: str
    bits: int
    saturated: int
    values: int

    @property
    def fraction(self) -> float:
        return self.saturated / self.values

    def describe(self) -> str:
        return (
            f"{self.layer} ({self.tensor}, int{self.bits}) has {self.saturated} of its {self.values} values "
            f"({100 * self.fraction:.2f} %) at the ends of its range"
        )


def _input_saturation(qgraph: QGraph, x: np.ndarray) -> Saturation | None:
    """The model's input, from the float input itself: a picture's black and white pixels may sit exactly on the
    ends of the input's grid, which loses nothing, so only values beyond them count."""
    tensor = qgraph.inputs[0]
    info = np.iinfo(qgraph.tensors[tensor].dtype)
    steps = qgraph.input_steps(x)
    saturated = int(np.count_nonzero((steps > info.max) | (steps < info.min)))
    return Saturation("input", tensor, info.bits, saturated, int(steps.size)) if saturated else None


def saturated_tensors(qgraph: QGraph, x: np.ndarray, values: dict[str, np.ndarray]) -> list[Saturation]:
    """The tensors that saturate on the float input x (NHWC), whose integer tensors golden.execute gave as values,
    the largest fraction first."""
    found = [s for s in [_input_saturation(qgraph, x)] if s is not None]
    for node in qgraph.nodes:
        if node.kernel in COPIES:
            continue
        info = np.iinfo(qgraph.tensors[node.output].dtype)
        value = values[node.output]
        saturated = int(np.count_nonzero((value == info.max) | (value == info.min)))
        if saturated:
            found.append(Saturation(node.name, node.output, info.bits, saturated, int(value.size)))
    return sorted(found, key=lambda s: -s.fraction)


def most_saturated(saturated: list[Saturation]) -> str:
    """The first of saturated_tensors' list described, and how many more saturate ('' when none does)."""
    if not saturated:
        return ""
    more = len(saturated) - 1
    return saturated[0].describe() + (f" (and {more} more tensor{'s' if more > 1 else ''})" if more else "")


def loss_diagnosis(saturated: list[Saturation]) -> str:
    """Why an input's outputs fall short of float, as far as ranges tell: the tensor that saturates most, or that
    none does (the loss is then the integer grids' rounding)."""
    if not saturated:
        return "no tensor saturates on this input, so the loss is rounding: int16 tensors (bit_widths='search') help"
    return (
        f"on this input {most_saturated(saturated)}: values beyond the range fitted to the calibration inputs "
        "(calibrating on inputs like it widens it: the spec's calibration); the rest of the loss is rounding"
    )
