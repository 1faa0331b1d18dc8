"""Box arithmetic and post-processing: encode/decode against priors, IoU, NMS, and the detection step."""

from __future__ import annotations

import torch

VARIANCES = (0.1, 0.2)
CONF_THRESHOLD = 0.05
NMS_THRESHOLD = 0.3
TOP_K = 750


def point_form(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2)."""
    return torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], dim=1)


def box_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """IoU matrix [A, B] of corner-form boxes."""
    top_left = torch.max(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = torch.min(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    area_a = (boxes_a[:, 2:] - boxes_a[:, :2]).prod(dim=1)
    area_b = (boxes_b[:, 2:] - boxes_b[:, :2]).prod(dim=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def encode_boxes(
    matched: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float] = VARIANCES
) -> torch.Tensor:
    """Corner-form targets matched to each prior -> regression targets (inverse of :func:`decode_boxes`)."""
    centre = ((matched[:, :2] + matched[:, 2:]) / 2 - priors[:, :2]) / (variances[0] * priors[:, 2:])
    size = torch.log((matched[:, 2:] - matched[:, :2]) / priors[:, 2:]) / variances[1]
    return torch.cat([centre, size], dim=1)


def decode_boxes(loc: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float] = VARIANCES) -> torch.Tensor:
    """Regressions [..., N, 4] + priors [N, 4] (cx, cy, w, h) -> corner-form boxes [..., N, 4].

    centre = prior centre + loc[:2] * 0.1 * prior size; size = prior size * exp(loc[2:] * 0.2).
    """
    centre = priors[..., :2] + loc[..., :2] * variances[0] * priors[..., 2:]
    size = priors[..., 2:] * torch.exp(loc[..., 2:] * variances[1])
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1)


def nms(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float = NMS_THRESHOLD, top_k: int = 5000
) -> torch.Tensor:
    """Indices of the boxes kept by greedy NMS, best first.

    Only the ``top_k`` best-scoring boxes are considered; a box is dropped when its IoU with a kept,
    better-scoring box exceeds ``iou_threshold`` (ties in score keep the lower index first).
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.sort(scores, descending=True, stable=True).indices[:top_k]
    ious = box_iou(boxes[order], boxes[order])
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        suppressed |= ious[i] > iou_threshold
    return torch.stack(keep)


def detect(
    loc: torch.Tensor,
    conf: torch.Tensor,
    priors: torch.Tensor,
    conf_threshold: float = CONF_THRESHOLD,
    nms_threshold: float = NMS_THRESHOLD,
    top_k: int = TOP_K,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Model outputs -> per image (boxes [k, 4] corner form normalised to the image, face scores [k]), best first.

    Softmax over (background, face), keep scores above ``conf_threshold``, NMS, at most ``top_k`` per image.
    """
    with torch.no_grad():
        scores = torch.softmax(conf, dim=-1)[..., 1]
        boxes = decode_boxes(loc, priors)
        results = []
        for image_boxes, image_scores in zip(boxes, scores, strict=True):
            mask = image_scores > conf_threshold
            candidates, candidate_scores = image_boxes[mask], image_scores[mask]
            keep = nms(candidates, candidate_scores, nms_threshold)[:top_k]
            results.append((candidates[keep], candidate_scores[keep]))
        return results
