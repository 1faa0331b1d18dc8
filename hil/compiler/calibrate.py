"""Calibration: the float model's range of every tensor over a set of images (SeeDot's profiling run)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.compiler.float_executor import execute
from hil.compiler.ir import Graph

MIN_MEAN_SAMPLES = 8  # values per channel a calibration mean needs before a bias is corrected with it


@dataclass
class ChannelRange:
    """The smallest and largest value of each channel (the last axis) of a tensor over the calibration set."""

    low: np.ndarray
    high: np.ndarray

    def extent(self, offset: np.ndarray | float = 0.0) -> float:
        """The magnitude whose fit (quantize.fit_exponent) is the finest grid holding x - offset, offset per channel.
        The integer grid reaches one step further below zero than above (-128..127), so a tensor whose extreme is
        negative, such as an input normalised to [-1, 1), fits the grid that holds -low * 127/128."""
        below = (offset - self.low) * (127.0 / 128.0)
        return float(np.max(np.maximum(self.high - offset, below)))

    @property
    def midrange(self) -> np.ndarray:
        """Per channel, the offset that minimises max |x - offset| (so the finest exponent for x - offset)."""
        return (self.low + self.high) / 2.0


def channel_ranges(graph: Graph, inputs: list[np.ndarray]) -> dict[str, ChannelRange]:
    """Every tensor's per-channel range over the inputs (each an NHWC array for the graph's single input)."""
    ranges: dict[str, ChannelRange] = {}
    for x in inputs:
        for name, value in execute(graph, [x]).items():
            flat = value.reshape(-1, value.shape[-1])
            low, high = flat.min(axis=0), flat.max(axis=0)
            if name in ranges:
                low, high = np.minimum(low, ranges[name].low), np.maximum(high, ranges[name].high)
            ranges[name] = ChannelRange(low, high)
    return ranges


def channel_means(graph: Graph, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The per-channel mean over the inputs (each an NHWC array for the graph's single input) of every tensor with
    at least MIN_MEAN_SAMPLES values per channel. A map has many per input; a vector (a Linear layer's input) one,
    and a bias corrected with the mean of one or two calibration inputs would fit those inputs, not the data."""
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for x in inputs:
        for name, value in execute(graph, [x]).items():
            flat = value.reshape(-1, value.shape[-1])
            sums[name] = sums.get(name, 0.0) + flat.sum(axis=0, dtype=np.float64)
            counts[name] = counts.get(name, 0) + flat.shape[0]
    return {name: total / counts[name] for name, total in sums.items() if counts[name] >= MIN_MEAN_SAMPLES}


def profile(graph: Graph, inputs: list[np.ndarray]) -> dict[str, float]:
    """Every tensor's extent (ChannelRange.extent) over the inputs (each an NHWC array for the graph's single input)."""
    return {name: r.extent() for name, r in channel_ranges(graph, inputs).items()}


def synthetic_images(count: int, split: str = "val") -> list[np.ndarray]:
    """The first images of a split of models' synthetic face set, preprocessed to NHWC [1, 240, 320, 1]."""
    import torch

    from models.data.synthetic import SyntheticFaceGenerator
    from models.preprocess import grey_batch_to_input

    generator = SyntheticFaceGenerator()
    grey = np.stack([generator.image(split, i)[0] for i in range(count)])
    batch = grey_batch_to_input(torch.from_numpy(grey))
    return [b.permute(1, 2, 0).numpy()[None].astype(np.float32) for b in batch]
