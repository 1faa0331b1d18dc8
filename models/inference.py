"""One call from an image (path or array) to face boxes and scores in the image's own pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.detection import CONF_THRESHOLD, detect
from models.face_models import RNNPoolFaceDetector
from models.preprocess import load_image, preprocess_image


def detect_faces(
    model: RNNPoolFaceDetector, image: str | Path | np.ndarray, min_score: float = CONF_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes float32 [k, 4] as x1, y1, x2, y2 in the image's pixels, scores float32 [k]), best first.

    The image is resized to 320x240 grey as in EdgeML's eval; boxes are scaled back to the original size.
    """
    pixels = load_image(image)
    height, width = pixels.shape[:2]
    model.eval()
    with torch.no_grad():
        loc, conf = model(preprocess_image(pixels))
    boxes, scores = detect(loc, conf, model.prior_box(), conf_threshold=min_score)[0]
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    return (boxes * scale).numpy().astype(np.float32), scores.numpy().astype(np.float32)
