"""Prior (anchor) boxes of the face detectors: one square anchor per cell of each detection source."""

from __future__ import annotations

from dataclasses import dataclass

import torch

INPUT_WIDTH = 320
INPUT_HEIGHT = 240


@dataclass(frozen=True)
class PriorBox:
    """Anchors in centre-size form (cx, cy, w, h), normalised to the image; EdgeML's PriorBox without clipping.

    cx = (j + 0.5) / (W / step), cy = (i + 0.5) / (H / step), w = size / W, h = size / H, row-major per source.
    """

    image_height: int = INPUT_HEIGHT
    image_width: int = INPUT_WIDTH
    steps: tuple[int, ...] = (8, 8, 16, 16)
    anchor_sizes: tuple[int, ...] = (8, 16, 32, 48)

    def feature_map_sizes(self) -> list[tuple[int, int]]:
        """(rows, columns) of each detection source for this image size."""
        return [(self.image_height // step, self.image_width // step) for step in self.steps]

    def forward(self, feature_maps: list[tuple[int, int]] | None = None) -> torch.Tensor:
        """[num_priors, 4] anchors for the given (rows, columns) per source (default: from the image size)."""
        maps = feature_maps if feature_maps is not None else self.feature_map_sizes()
        if len(maps) != len(self.steps):
            raise ValueError(f"PriorBox has {len(self.steps)} sources, got {len(maps)} feature map sizes")
        per_source = []
        for (rows, cols), step, size in zip(maps, self.steps, self.anchor_sizes, strict=True):
            i, j = torch.meshgrid(
                torch.arange(rows, dtype=torch.float64), torch.arange(cols, dtype=torch.float64), indexing="ij"
            )
            cx = (j + 0.5) / (self.image_width / step)
            cy = (i + 0.5) / (self.image_height / step)
            w = torch.full_like(cx, size / self.image_width)
            h = torch.full_like(cy, size / self.image_height)
            per_source.append(torch.stack([cx, cy, w, h], dim=-1).reshape(-1, 4))
        return torch.cat(per_source).float()

    __call__ = forward
