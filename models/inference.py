"""One call from an image (path or array) to face boxes and scores in the image's own pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from models.detection import CONF_THRESHOLD, NMS_THRESHOLD, TOP_K, detect, nms
from models.face_models import RNNPoolFaceDetector
from models.preprocess import load_image, preprocess_image

# The frame sizes detect_faces looks at. The largest prior is 48 px and the deepest head sees little more than
# ~70 px, so a face that fills a third of the 320x240 frame (a portrait) is found only once the frame is shrunk:
# the half-scale pass brings faces of 70-140 px into the range the full frame covers. S3FD's (and EdgeML's)
# WIDER test combines several scales for the same reason.
SCALES = (1.0, 0.5)


def shrunk_frame(frame: torch.Tensor, scale: float) -> tuple[torch.Tensor, tuple[float, float]]:
    """A model input [1, 1, H, W] shrunk by ``scale`` and centred on a zero (mean grey) frame of the same size;
    returns it and the (x, y) offset of the shrunk picture in normalised frame coordinates."""
    height, width = frame.shape[-2:]
    small_w, small_h = round(width * scale), round(height * scale)
    small = cv2.resize(frame[0, 0].numpy(), (small_w, small_h), interpolation=cv2.INTER_AREA)
    top, left = (height - small_h) // 2, (width - small_w) // 2
    canvas = torch.zeros_like(frame)
    canvas[0, 0, top : top + small_h, left : left + small_w] = torch.from_numpy(small)
    return canvas, (left / width, top / height)


def detect_faces(
    model: RNNPoolFaceDetector,
    image: str | Path | np.ndarray,
    min_score: float = CONF_THRESHOLD,
    scales: tuple[float, ...] = SCALES,
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes float32 [k, 4] as x1, y1, x2, y2 in the image's pixels, scores float32 [k]), best first.

    The image is resized to 320x240 grey as in EdgeML's eval and run at each of ``scales`` (1.0 alone is the single
    pass the device makes); the detections of all scales are merged by NMS and scaled back to the original size.
    """
    pixels = load_image(image)
    height, width = pixels.shape[:2]
    frame = preprocess_image(pixels)
    inputs, placements = [], []
    for scale in scales:
        if scale == 1.0:
            inputs.append(frame)
            placements.append((1.0, (0.0, 0.0)))
        else:
            shrunk, offset = shrunk_frame(frame, scale)
            inputs.append(shrunk)
            placements.append((scale, offset))
    model.eval()
    with torch.no_grad():
        loc, conf = model(torch.cat(inputs))
    found = detect(loc, conf, model.prior_box(), conf_threshold=min_score)
    boxes, scores = [], []
    for (scale, (dx, dy)), (scale_boxes, scale_scores) in zip(placements, found, strict=True):
        boxes.append((scale_boxes - torch.tensor([dx, dy, dx, dy])) / scale)
        scores.append(scale_scores)
    merged, merged_scores = torch.cat(boxes), torch.cat(scores)
    keep = nms(merged, merged_scores, NMS_THRESHOLD)[:TOP_K]
    pixel_scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    return (merged[keep] * pixel_scale).numpy().astype(np.float32), merged_scores[keep].numpy().astype(np.float32)
