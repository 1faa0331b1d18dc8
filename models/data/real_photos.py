"""Real photographs with faces that installed packages ship, with face boxes checked by eye.

Boxes are [x1, y1, x2, y2] in the photograph's own pixels and follow the LFW crop convention the detector is
trained on (brows/forehead to chin, cheek to cheek). They were proposed with skimage's packaged LBP frontal-face
cascade, drawn onto the photographs (``python -m models.evaluate --draw-ground-truth``) and checked by eye.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.cbook
import numpy as np
import skimage.data
from PIL import Image


def _grace_hopper() -> np.ndarray:
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        return np.asarray(image.convert("RGB"))


@dataclass(frozen=True)
class RealPhoto:
    """A packaged photograph, where it comes from, and its face boxes."""

    name: str
    source: str
    load: Callable[[], np.ndarray]
    boxes: tuple[tuple[float, float, float, float], ...]
    frontal: bool


REAL_PHOTOS: tuple[RealPhoto, ...] = (
    RealPhoto(
        "astronaut", "skimage.data.astronaut()", skimage.data.astronaut, ((173.0, 70.0, 270.0, 167.0),), frontal=True
    ),
    RealPhoto(
        "grace_hopper",
        "matplotlib.cbook.get_sample_data('grace_hopper.jpg')",
        _grace_hopper,
        ((166.0, 107.0, 376.0, 317.0),),
        frontal=True,
    ),
    RealPhoto("camera", "skimage.data.camera()", skimage.data.camera, ((209.0, 128.0, 258.0, 177.0),), frontal=False),
)


def load_real_photo(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(image as shipped: RGB or grey uint8, boxes float32 [n, 4] in its pixels) of a photo in REAL_PHOTOS."""
    for photo in REAL_PHOTOS:
        if photo.name == name:
            return photo.load(), np.asarray(photo.boxes, dtype=np.float32)
    raise KeyError(f"no real photo named {name!r}; expected one of {[p.name for p in REAL_PHOTOS]}")
