"""One call from an image (path or array) to face boxes and scores in the image's own pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.detection import CONF_THRESHOLD, NMS_THRESHOLD, TOP_K, detect, nms
from models.face_models import RNNPoolFaceDetector
from models.preprocess import load_image, preprocess_image
from models.priors import INPUT_HEIGHT, INPUT_WIDTH

# Besides the device's pass (the image stretched to 320x240, as EdgeML's eval), detect_faces looks at the image
# shrunk with its aspect kept to fit these fractions of the frame, centred on mean grey. The largest prior is
# 48 px and the deepest head sees little more than ~70 px, so a portrait's face (Grace Hopper's is 131x84 px once
# stretched) is found only shrunk; and stretching a portrait to 4:3 squashes faces 1.5x or more, beyond most of
# what the synthetic faces show. S3FD's (and EdgeML's) WIDER test combines several scales for the same reason.
LETTERBOX_FRACTIONS = (1.0, 0.5)

Placement = tuple[int, int, int, int]  # left, top, width, height of the picture inside the 320x240 frame


def placements(height: int, width: int, fractions: tuple[float, ...] = LETTERBOX_FRACTIONS) -> list[Placement]:
    """Where each view puts an image of this size in the frame: first the stretched full frame, then the
    aspect-keeping views (one equal to an earlier view is dropped)."""
    views = [(0, 0, INPUT_WIDTH, INPUT_HEIGHT)]
    for fraction in fractions:
        shrink = min(INPUT_WIDTH * fraction / width, INPUT_HEIGHT * fraction / height)
        w, h = max(1, round(width * shrink)), max(1, round(height * shrink))
        view = ((INPUT_WIDTH - w) // 2, (INPUT_HEIGHT - h) // 2, w, h)
        if view not in views:
            views.append(view)
    return views


def placed_frame(pixels: np.ndarray, placement: Placement) -> torch.Tensor:
    """The model input [1, 1, 240, 320] with the image resized into ``placement`` and zero (mean grey) around it."""
    left, top, width, height = placement
    frame = torch.zeros(1, 1, INPUT_HEIGHT, INPUT_WIDTH)
    frame[..., top : top + height, left : left + width] = preprocess_image(pixels, width, height)
    return frame


def detect_faces(
    model: RNNPoolFaceDetector,
    image: str | Path | np.ndarray,
    min_score: float = CONF_THRESHOLD,
    fractions: tuple[float, ...] = LETTERBOX_FRACTIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes float32 [k, 4] as x1, y1, x2, y2 in the image's pixels, scores float32 [k]), best first.

    Runs the device's stretched 320x240 pass and the aspect-keeping views of ``fractions`` (empty: the device's
    pass alone), merges their detections by NMS and scales them back to the original size.
    """
    pixels = load_image(image)
    height, width = pixels.shape[:2]
    views = placements(height, width, fractions)
    model.eval()
    with torch.no_grad():
        loc, conf = model(torch.cat([placed_frame(pixels, view) for view in views]))
    found = detect(loc, conf, model.prior_box(), conf_threshold=min_score)
    frame = torch.tensor([INPUT_WIDTH, INPUT_HEIGHT] * 2, dtype=torch.float32)
    boxes, scores = [], []
    for (left, top, w, h), (view_boxes, view_scores) in zip(views, found, strict=True):
        offset = torch.tensor([left, top] * 2, dtype=torch.float32)
        boxes.append((view_boxes * frame - offset) / torch.tensor([w, h] * 2) * torch.tensor([width, height] * 2))
        scores.append(view_scores)
    merged, merged_scores = torch.cat(boxes), torch.cat(scores)
    keep = nms(merged, merged_scores, NMS_THRESHOLD)[:TOP_K]
    return merged[keep].numpy().astype(np.float32), merged_scores[keep].numpy().astype(np.float32)
