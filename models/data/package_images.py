"""Grey images that installed packages ship: LFW face / non-face crops and face-free background photographs."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import skimage.data

# skimage images without a person in them; astronaut and camera hold faces and serve as real test photos.
BACKGROUND_NAMES = (
    "brick",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "horse",
    "rocket",
    "page",
    "text",
    "hubble_deep_field",
    "chelsea",
    "moon",
    "retina",
    "cell",
    "immunohistochemistry",
    "clock",
    "colorwheel",
    "stereo_motorcycle",
)


def to_grey_uint8(image: np.ndarray) -> np.ndarray:
    """RGB(A)/grey/bool array -> HxW uint8 grey (ITU-R 601 weights, as the detector's preprocessing)."""
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3:
        rgb = array[..., :3].astype(np.float64)
        array = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


@lru_cache(maxsize=1)
def background_images() -> tuple[np.ndarray, ...]:
    """The background photographs as grey uint8 arrays, in BACKGROUND_NAMES order."""
    images = []
    for name in BACKGROUND_NAMES:
        image = getattr(skimage.data, name)()
        if isinstance(image, tuple):
            image = image[0]
        images.append(to_grey_uint8(image))
    return tuple(images)


@lru_cache(maxsize=1)
def lfw_crops() -> tuple[np.ndarray, np.ndarray]:
    """(faces [100, 25, 25], non_faces [100, 25, 25]) as float32 in [0, 1] from skimage's LFW subset."""
    crops = skimage.data.lfw_subset().astype(np.float32)
    return crops[:100], crops[100:]


def resize_grey(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a grey float image with area averaging when shrinking and bilinear when enlarging."""
    shrinking = width < image.shape[1] or height < image.shape[0]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
