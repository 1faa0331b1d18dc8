"""Training loss of the face detectors: S3FD prior matching (as EdgeML's ``match``) and the SSD multibox loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.detection import box_iou, encode_boxes, point_form

OVERLAP_THRESHOLDS = (0.1, 0.35, 0.5)
NEG_POS_RATIO = 3


def match_priors(
    truths: torch.Tensor, priors: torch.Tensor, thresholds: tuple[float, float, float] = OVERLAP_THRESHOLDS
) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels [N] in {0, 1}, regression targets [N, 4]) for one image's corner-form ``truths`` [G, 4].

    S3FD scale compensation: priors with IoU >= 0.35 are faces; every face also takes its best prior; then as
    many of the best remaining priors with IoU in (0.1, 0.35) as a face has on average at 0.35 and 0.5 join in.
    """
    num_priors = priors.shape[0]
    if truths.numel() == 0:
        return torch.zeros(num_priors, dtype=torch.long), torch.zeros(num_priors, 4)
    low, mid, high = thresholds
    overlaps = box_iou(truths, point_form(priors))
    best_prior_overlap, best_prior_idx = overlaps.max(dim=1)
    best_truth_overlap, best_truth_idx = overlaps.max(dim=0)
    best_truth_overlap[best_prior_idx] = 2.0
    best_truth_idx[best_prior_idx] = torch.arange(truths.shape[0])
    labels = (best_truth_overlap >= mid).long()
    n_extra = int(((best_prior_overlap >= mid).sum() + (best_prior_overlap >= high).sum()) // 2)
    if n_extra > 0:
        candidates = torch.where(
            (best_truth_overlap > low) & (best_truth_overlap < mid),
            best_truth_overlap,
            torch.zeros_like(best_truth_overlap),
        )
        values, order = candidates.sort(descending=True)
        chosen = order[:n_extra][values[:n_extra] > low]
        labels[chosen] = 1
    targets = encode_boxes(truths[best_truth_idx], priors)
    return labels, targets


class MultiBoxLoss(nn.Module):
    """Smooth-L1 on face priors + cross-entropy with 3:1 hard negative mining, both divided by the face-prior count."""

    def __init__(self, priors: torch.Tensor, neg_pos_ratio: int = NEG_POS_RATIO) -> None:
        super().__init__()
        self.register_buffer("priors", priors)
        self.neg_pos_ratio = neg_pos_ratio

    def forward(
        self, loc: torch.Tensor, conf: torch.Tensor, truths: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(localisation loss, confidence loss) for a batch; ``truths`` are normalised corner-form boxes per image."""
        matched = [match_priors(t, self.priors) for t in truths]
        labels = torch.stack([m[0] for m in matched])
        targets = torch.stack([m[1] for m in matched])
        positive = labels > 0
        num_pos = positive.sum(dim=1, keepdim=True)
        loss_loc = F.smooth_l1_loss(loc[positive], targets[positive], reduction="sum")
        ce = F.cross_entropy(conf.reshape(-1, 2), labels.reshape(-1), reduction="none").reshape(labels.shape)
        mining = ce.detach().clone()
        mining[positive] = 0.0
        rank = mining.argsort(dim=1, descending=True).argsort(dim=1)
        # Images without faces still contribute a few hard negatives, so empty scenes teach "no face".
        num_neg = torch.clamp(self.neg_pos_ratio * num_pos, min=self.neg_pos_ratio * 4, max=labels.shape[1] - 1)
        negative = rank < num_neg
        loss_conf = ce[positive | negative].sum()
        total = max(int(num_pos.sum()), 1)
        return loss_loc / total, loss_conf / total
