"""Synthetic face-detection images: LFW faces pasted onto crops of packaged backgrounds, with exact boxes.

Every image is a pure function of (seed, split, index), so a split is reproducible byte for byte and needs no
storage. Faces and non-face distractors are split by LFW crop (70 / 15 / 15 per split), so val and test hold faces
the model never saw. Boxes are [x1, y1, x2, y2] in pixels, x2/y2 exclusive (the pasted region).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from models.data.package_images import background_images, lfw_crops, resize_grey
from models.priors import INPUT_HEIGHT, INPUT_WIDTH

SPLITS = {"train": 0, "val": 1, "test": 2}
SPLIT_SIZES = {"train": 70, "val": 15, "test": 15}
DEFAULT_SEED = 20240
DEFAULT_SPLIT_IMAGES = {"train": 3000, "val": 300, "test": 300}


@dataclass(frozen=True)
class SyntheticFaceGenerator:
    """How images are drawn; the defaults are the recorded data set."""

    seed: int = DEFAULT_SEED
    height: int = INPUT_HEIGHT
    width: int = INPUT_WIDTH
    min_face: float = 16.0
    max_face: float = 128.0
    max_aspect: float = 1.6
    max_faces: int = 4
    max_distractors: int = 3
    empty_probability: float = 0.15

    def crop_indices(self, split: str) -> np.ndarray:
        """Which LFW crops (0..99) belong to a split: a fixed permutation drawn from the seed."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLITS)}")
        order = np.random.default_rng([self.seed, 999]).permutation(100)
        start = sum(SPLIT_SIZES[name] for name in SPLITS if SPLITS[name] < SPLITS[split])
        return order[start : start + SPLIT_SIZES[split]]

    def image(self, split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(grey uint8 [H, W], boxes float32 [n, 4]) of image ``index`` of ``split``."""
        rng = np.random.default_rng([self.seed, SPLITS[split], index])
        canvas = self._background(rng)
        faces, non_faces = lfw_crops()
        allowed = self.crop_indices(split)
        n_faces = 0 if rng.random() < self.empty_probability else int(rng.integers(1, self.max_faces + 1))
        n_distractors = int(rng.integers(0, self.max_distractors + 1))
        occupied: list[tuple[int, int, int, int]] = []
        boxes = []
        for kind in [1] * n_faces + [0] * n_distractors:
            crop = (faces if kind else non_faces)[allowed[rng.integers(len(allowed))]]
            box = self._place(rng, occupied)
            if box is None:
                continue
            occupied.append(box)
            self._paste(rng, canvas, crop, box)
            if kind:
                boxes.append(box)
        noise = rng.normal(0.0, rng.uniform(0.0, 4.0), canvas.shape)
        image = np.clip(np.rint(canvas * 255.0 + noise), 0, 255).astype(np.uint8)
        return image, np.asarray(boxes, dtype=np.float32).reshape(-1, 4)

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """A random crop of a random background, zoomed 1-2x beyond covering the canvas, flipped, re-lit."""
        backgrounds = background_images()
        source = backgrounds[rng.integers(len(backgrounds))]
        scale = max(self.height / source.shape[0], self.width / source.shape[1]) * rng.uniform(1.0, 2.0)
        crop_h = min(source.shape[0], int(np.ceil(self.height / scale)))
        crop_w = min(source.shape[1], int(np.ceil(self.width / scale)))
        top = rng.integers(source.shape[0] - crop_h + 1)
        left = rng.integers(source.shape[1] - crop_w + 1)
        crop = source[top : top + crop_h, left : left + crop_w].astype(np.float32) / 255.0
        crop = resize_grey(crop, self.width, self.height)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return np.ascontiguousarray(crop * rng.uniform(0.6, 1.2) + rng.uniform(-0.15, 0.15))

    def _place(
        self, rng: np.random.Generator, occupied: list[tuple[int, int, int, int]]
    ) -> tuple[int, int, int, int] | None:
        """A box of random size and aspect that overlaps nothing placed so far (None after 20 tries)."""
        for _ in range(20):
            size = np.exp(rng.uniform(np.log(self.min_face), np.log(self.max_face)))
            aspect = np.exp(rng.uniform(-np.log(self.max_aspect), np.log(self.max_aspect)))
            w = round(min(size * np.sqrt(aspect), self.width - 1))
            h = round(min(size / np.sqrt(aspect), self.height - 1))
            x1 = int(rng.integers(0, self.width - w + 1))
            y1 = int(rng.integers(0, self.height - h + 1))
            box = (x1, y1, x1 + w, y1 + h)
            if all(box[2] <= o[0] or o[2] <= box[0] or box[3] <= o[1] or o[3] <= box[1] for o in occupied):
                return box
        return None

    @staticmethod
    def _paste(rng: np.random.Generator, canvas: np.ndarray, crop: np.ndarray, box: tuple[int, int, int, int]) -> None:
        """Paste an augmented crop (flip, contrast, brightness, sharpening) into ``box`` with a feathered rim."""
        x1, y1, x2, y2 = box
        patch = crop[:, ::-1] if rng.random() < 0.5 else crop
        mean = float(patch.mean())
        patch = (patch - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-0.25, 0.25)
        patch = resize_grey(np.clip(patch, 0.0, 1.0).astype(np.float32), x2 - x1, y2 - y1)
        if rng.random() < 0.5:
            # Enlarged 25-px crops are blurrier than real faces of the same size; unsharp masking narrows the gap.
            blurred = cv2.GaussianBlur(patch, (0, 0), sigmaX=max(0.8, (x2 - x1) / 25.0))
            patch = np.clip(patch + rng.uniform(0.5, 1.5) * (patch - blurred), 0.0, 1.0)
        # A feathered rim stops the straight paste edge from being the only cue; distractors share it.
        alpha = np.ones_like(patch)
        alpha[[0, -1], :] = 0.5
        alpha[:, [0, -1]] = 0.5
        region = canvas[y1:y2, x1:x2]
        canvas[y1:y2, x1:x2] = alpha * patch + (1.0 - alpha) * region


class SyntheticFaceDataset(torch.utils.data.Dataset):
    """A fixed split of synthetic images: item i is (grey uint8 [H, W], boxes float32 [n, 4] in pixels)."""

    def __init__(self, split: str, size: int, generator: SyntheticFaceGenerator | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLITS)}")
        if size < 1:
            raise ValueError(f"a split needs at least one image, got size={size}")
        self.split = split
        self.size = size
        self.generator = generator or SyntheticFaceGenerator()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for the {self.size}-image {self.split} split")
        return self.generator.image(self.split, index)
