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


# How far below the score threshold a detection may fall and still count as the same finding. A face the float
# model scores 0.51 and the device 0.47 was found by both: int8 logits move in steps of 1/8 or coarser, which is
# 0.03 in score around 0.5, so without a margin the per-image recall fails on borderline faces, not on real errors.
DEFAULT_SCORE_MARGIN = 0.05


@dataclass(frozen=True)
class DetectionParity:
    """Agreement of device detections with reference (float) detections above a score."""

    recall: float  # reference detections the device also found
    precision: float  # device detections the reference also has
    matched: int  # reference detections found by the device
    reference_count: int
    device_matched: int  # device detections found in the reference
    device_count: int
    score_margin: float

    def to_dict(self) -> dict:
        return asdict(self)


def _greedy_matches(wanted: np.ndarray, candidates: np.ndarray, iou_threshold: float) -> int:
    """How many ``wanted`` boxes (best first) get a distinct candidate box at IoU >= the threshold."""
    ious = iou_matrix(wanted, candidates)
    taken = np.zeros(len(candidates), dtype=bool)
    matched = 0
    for row in ious:
        free = np.where(~taken & (row >= iou_threshold))[0]
        if len(free):
            taken[free[np.argmax(row[free])]] = True
            matched += 1
    return matched


def _above(boxes: np.ndarray, scores: np.ndarray, min_score: float) -> np.ndarray:
    """The boxes scoring at least min_score, best first."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[order][scores[order] >= min_score]


def compare_detections(
    reference_boxes: np.ndarray,
    reference_scores: np.ndarray,
    device_boxes: np.ndarray,
    device_scores: np.ndarray,
    *,
    min_score: float = 0.5,
    iou_threshold: float = 0.5,
    score_margin: float = DEFAULT_SCORE_MARGIN,
) -> DetectionParity:
    """Recall: reference detections scoring >= min_score that a device detection scoring >= min_score - margin
    overlaps at IoU >= the threshold (greedy, one to one, best first); precision the same the other way round.
    An empty side counts as agreeing."""
    if not 0.0 <= score_margin <= min_score:
        raise ValueError(f"score_margin {score_margin} must be between 0 and min_score {min_score}")
    reference = _above(reference_boxes, reference_scores, min_score)
    device = _above(device_boxes, device_scores, min_score)
    found = _greedy_matches(reference, _above(device_boxes, device_scores, min_score - score_margin), iou_threshold)
    confirmed = _greedy_matches(
        device, _above(reference_boxes, reference_scores, min_score - score_margin), iou_threshold
    )
    return DetectionParity(
        recall=found / len(reference) if len(reference) else 1.0,
        precision=confirmed / len(device) if len(device) else 1.0,
        matched=found,
        reference_count=len(reference),
        device_matched=confirmed,
        device_count=len(device),
        score_margin=score_margin,
    )
