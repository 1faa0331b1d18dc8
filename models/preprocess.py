"""Image -> model input, as EdgeML's eval does it: resize to 320x240, subtract the BGR mean, grey = 0.299 R + ..."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from models.errors import ModelInputError
from models.priors import INPUT_HEIGHT, INPUT_WIDTH

# EdgeML's cfg.img_mean is per BGR channel; the grey weights are per RGB channel.
BGR_MEAN = (104.0, 117.0, 123.0)
GREY_WEIGHTS_RGB = (0.299, 0.587, 0.114)
GREY_MEAN = sum(w * m for w, m in zip(GREY_WEIGHTS_RGB, BGR_MEAN[::-1], strict=True))


def load_image(source: str | Path | np.ndarray) -> np.ndarray:
    """A path (read as RGB) or an array (checked) -> uint8 array HxW (grey) or HxWx3 (RGB)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ModelInputError(f"image file not found: {path}")
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    if not isinstance(source, np.ndarray):
        raise ModelInputError(f"expected an image path or a numpy array, got {type(source).__name__}")
    if source.dtype != np.uint8:
        raise ModelInputError(f"expected a uint8 image array, got dtype {source.dtype}")
    if source.ndim == 3 and source.shape[2] == 4:
        return source[..., :3]
    if not (source.ndim == 2 or (source.ndim == 3 and source.shape[2] == 3)):
        raise ModelInputError(f"expected an HxW grey or HxWx3 RGB image, got shape {source.shape}")
    return source


def preprocess_image(
    source: str | Path | np.ndarray, width: int = INPUT_WIDTH, height: int = INPUT_HEIGHT
) -> torch.Tensor:
    """Image path or uint8 array -> float tensor [1, 1, height, width] (by default 240x320, the face models' input)."""
    image = load_image(source)
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    if resized.ndim == 2:
        grey = resized.astype(np.float32) - np.float32(GREY_MEAN)
    else:
        centred = resized.astype(np.float32) - np.asarray(BGR_MEAN[::-1], dtype=np.float32)
        grey = centred @ np.asarray(GREY_WEIGHTS_RGB, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(grey, dtype=np.float32))[None, None]


def grey_batch_to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 grey images [B, H, W] already at model size -> float input [B, 1, H, W] (same transform as above)."""
    if images.dtype != torch.uint8 or images.dim() != 3:
        raise ModelInputError(f"expected a uint8 [B, H, W] tensor, got {images.dtype} {tuple(images.shape)}")
    return (images.float() - GREY_MEAN).unsqueeze(1)
