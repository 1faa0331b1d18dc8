"""VOC-style average precision for single-class detection."""

from __future__ import annotations

import numpy as np
import torch

from models.detection import box_iou


def average_precision(
    detections: list[tuple[torch.Tensor, torch.Tensor]], ground_truths: list[torch.Tensor], iou_threshold: float = 0.5
) -> float:
    """AP over a data set: all-point interpolated area under precision/recall (VOC 2010+).

    ``detections[i]`` is (boxes [k, 4], scores [k]) of image i and ``ground_truths[i]`` its boxes [g, 4], in the
    same coordinates. A detection is a true positive when it overlaps a not-yet-claimed ground truth with
    IoU >= ``iou_threshold``; detections are claimed in descending score order over the whole set.
    """
    if len(detections) != len(ground_truths):
        raise ValueError(f"{len(detections)} detection lists for {len(ground_truths)} ground-truth lists")
    total_truths = sum(len(g) for g in ground_truths)
    if total_truths == 0:
        raise ValueError("average precision needs at least one ground-truth box")
    records = []
    for image_index, (_, scores) in enumerate(detections):
        for box_index, score in enumerate(scores.tolist()):
            records.append((-score, image_index, box_index))
    records.sort()
    claimed = [torch.zeros(len(g), dtype=torch.bool) for g in ground_truths]
    ious = [box_iou(d[0], g) if len(d[0]) and len(g) else None for d, g in zip(detections, ground_truths, strict=True)]
    hits = np.zeros(len(records))
    for rank, (_, image_index, box_index) in enumerate(records):
        overlaps = ious[image_index]
        if overlaps is None:
            continue
        row = overlaps[box_index]
        best = int(row.argmax())
        if row[best] >= iou_threshold and not claimed[image_index][best]:
            claimed[image_index][best] = True
            hits[rank] = 1.0
    true_positives = np.cumsum(hits)
    recall = true_positives / total_truths
    precision = true_positives / np.arange(1, len(records) + 1)
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changes = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[changes + 1] - recall[changes]) * precision[changes + 1]))
