"""How far a face model's outputs moved, where the detections are read from.

A plain relative change of loc and conf over every anchor is dominated by the background anchors: their loc is never
decoded and their conf logits can grow without changing a probability. Fine-tuning against that measure learns to
inflate them, which raises the measure's SNR without bringing the faces' boxes or scores closer (the committed
M4's tolerance phase took its background loc RMS from 1.6 to 8.1; models/README.md). `face_output_change` measures
loc only at the anchors the reference calls faces, and conf as the face probability the detector thresholds.
"""

from __future__ import annotations

import torch

FACE_PROBABILITY = 0.1  # an anchor whose reference face probability reaches this is one the loc is read at


def face_output_change(
    outputs: tuple[torch.Tensor, torch.Tensor], references: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loc, face probability) noise-to-signal power ratios of outputs (loc [..., N, 4], conf logits [..., N, 2])
    against references: loc over the anchors whose reference face probability is at least FACE_PROBABILITY (0
    when there is none), the face probability over every anchor."""
    (loc, conf), (reference_loc, reference_conf) = outputs, references
    probability, reference_probability = conf.softmax(-1)[..., 1], reference_conf.softmax(-1)[..., 1]
    faces = (reference_probability >= FACE_PROBABILITY).detach()
    loc_signal = (reference_loc[faces] ** 2).sum().clamp_min(1e-12)
    loc_ratio = ((loc - reference_loc)[faces] ** 2).sum() / loc_signal
    probability_ratio = ((probability - reference_probability) ** 2).sum() / (reference_probability**2).sum()
    return loc_ratio, probability_ratio
