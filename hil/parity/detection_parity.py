"""Do two detectors find the same faces? Device detections matched to float detections at IoU 0.5."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU [len(a), len(b)] of corner-form boxes (x1, y1, x2, y2)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass(frozen=True)
class DetectionParity:
    """Agreement of device detections with reference (float) detections above a score."""

    recall: float  # reference detections the device also found
    precision: float  # device detections the reference also has
    matched: int
    reference_count: int
    device_count: int

    def to_dict(self) -> dict:
        return asdict(self)


def compare_detections(
    reference_boxes: np.ndarray,
    reference_scores: np.ndarray,
    device_boxes: np.ndarray,
    device_scores: np.ndarray,
    *,
    min_score: float = 0.5,
    iou_threshold: float = 0.5,
) -> DetectionParity:
    """Greedy one-to-one matching, best reference detections first. An empty side counts as agreeing."""
    ref = np.asarray(reference_boxes).reshape(-1, 4)[np.asarray(reference_scores) >= min_score]
    dev_order = np.argsort(-np.asarray(device_scores), kind="stable")
    dev = np.asarray(device_boxes).reshape(-1, 4)[dev_order][np.asarray(device_scores)[dev_order] >= min_score]
    ious = iou_matrix(ref, dev)
    taken = np.zeros(len(dev), dtype=bool)
    matched = 0
    for row in ious:
        candidates = np.where(~taken & (row >= iou_threshold))[0]
        if len(candidates):
            taken[candidates[np.argmax(row[candidates])]] = True
            matched += 1
    return DetectionParity(
        recall=matched / len(ref) if len(ref) else 1.0,
        precision=matched / len(dev) if len(dev) else 1.0,
        matched=matched,
        reference_count=len(ref),
        device_count=len(dev),
    )
