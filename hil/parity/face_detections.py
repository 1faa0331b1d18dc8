"""Face-model outputs to detections in pixels, and a picture of float against device detections."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from models.detection import detect


def detections(loc: np.ndarray, conf: np.ndarray, priors: torch.Tensor, width: int, height: int) -> tuple:
    """(boxes [k, 4] x1 y1 x2 y2 in pixels, scores [k]) from real-valued loc [1, N, 4] and conf [1, N, 2]."""
    loc_t = torch.as_tensor(np.asarray(loc, dtype=np.float32))
    conf_t = torch.as_tensor(np.asarray(conf, dtype=np.float32))
    boxes, scores = detect(loc_t, conf_t, priors)[0]
    scale = np.array([width, height, width, height], dtype=np.float32)
    return boxes.numpy() * scale, scores.numpy()


def draw_detections(
    grey: np.ndarray,
    truth: np.ndarray,
    float_detections: tuple[np.ndarray, np.ndarray],
    device_detections: tuple[np.ndarray, np.ndarray],
    min_score: float = 0.5,
) -> bytes:
    """PNG: ground truth in white, float detections in green, device detections in red (dashed by offset)."""
    canvas = cv2.cvtColor(np.asarray(grey, dtype=np.uint8), cv2.COLOR_GRAY2BGR)
    canvas = cv2.resize(canvas, (canvas.shape[1] * 2, canvas.shape[0] * 2), interpolation=cv2.INTER_NEAREST)

    def box(b: np.ndarray, colour: tuple[int, int, int], inset: int, label: str = "") -> None:
        x1, y1, x2, y2 = (int(np.rint(2 * v)) for v in b)
        cv2.rectangle(canvas, (x1 + inset, y1 + inset), (x2 - inset, y2 - inset), colour, 1)
        if label:
            cv2.putText(canvas, label, (x1 + inset, max(10, y1 + inset - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)

    for b in np.asarray(truth).reshape(-1, 4):
        box(b, (255, 255, 255), 0)
    for (boxes, scores), colour, inset in (
        (float_detections, (0, 200, 0), 2),
        (device_detections, (0, 0, 230), 4),
    ):
        for b, s in zip(boxes, scores, strict=True):
            if s >= min_score:
                box(b, colour, inset, f"{s:.2f}")
    ok, png = cv2.imencode(".png", canvas)
    if not ok:
        raise RuntimeError("OpenCV could not encode the detection picture as PNG")
    return png.tobytes()
