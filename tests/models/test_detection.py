"""Decode, encode, NMS, the detection step and VOC AP on hand-made cases."""

from __future__ import annotations

import math

import pytest
import torch

from models.detection import box_iou, decode_boxes, detect, encode_boxes, nms
from models.metrics import average_precision
from models.multibox_loss import MultiBoxLoss, match_priors
from models.priors import PriorBox


def test_decode_hand_made() -> None:
    prior = torch.tensor([[0.5, 0.5, 0.1, 0.2]])
    loc = torch.tensor([[1.0, -1.0, 0.0, math.log(2.0) / 0.2]])
    # centre = (0.5 + 1 * 0.1 * 0.1, 0.5 - 1 * 0.1 * 0.2), size = (0.1, 0.2 * 2)
    torch.testing.assert_close(decode_boxes(loc, prior), torch.tensor([[0.46, 0.28, 0.56, 0.68]]))
    torch.testing.assert_close(decode_boxes(torch.zeros(1, 4), prior), torch.tensor([[0.45, 0.4, 0.55, 0.6]]))


def test_encode_inverts_decode() -> None:
    priors = PriorBox()()[::97]
    boxes = torch.tensor([[0.1, 0.2, 0.3, 0.5]]).expand(len(priors), 4)
    torch.testing.assert_close(decode_boxes(encode_boxes(boxes, priors), priors), boxes, atol=1e-6, rtol=1e-5)


def test_nms_hand_made() -> None:
    boxes = torch.tensor(
        [
            [0, 0, 10, 10],  # 0: best
            [1, 1, 11, 11],  # 1: IoU 81/119 = 0.68 with 0 -> dropped
            [20, 20, 30, 30],  # 2: disjoint -> kept
            [5, 0, 15, 10],  # 3: IoU 50/150 = 0.333 > 0.3 with 0 -> dropped
            [0, 6, 10, 16],  # 4: IoU 40/160 = 0.25 with 0 -> kept
            [21, 21, 31, 31],  # 5: IoU 81/119 with 2 but 2 scores lower -> kept, and 2 is dropped
        ],
        dtype=torch.float32,
    )
    scores = torch.tensor([0.9, 0.8, 0.6, 0.7, 0.5, 0.65])
    assert nms(boxes, scores, 0.3).tolist() == [0, 5, 4]
    assert nms(boxes, scores, 0.7).tolist() == [0, 1, 3, 5, 2, 4]
    assert nms(boxes, scores, 0.3, top_k=2).tolist() == [0]
    assert nms(torch.zeros(0, 4), torch.zeros(0)).numel() == 0


def test_box_iou() -> None:
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 4.0, 4.0]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1 / 7, 0.0]]))


def test_detect_thresholds_softmax_and_suppresses() -> None:
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.52, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]])
    conf = torch.tensor([[[0.0, 3.0], [0.0, 2.0], [0.0, -4.0]]])
    ((boxes, scores),) = detect(torch.zeros(1, 3, 4), conf, priors)
    assert scores.tolist() == pytest.approx([1 / (1 + math.exp(-3.0))])
    torch.testing.assert_close(boxes, torch.tensor([[0.4, 0.4, 0.6, 0.6]]))


def test_average_precision_hand_made() -> None:
    truth = [torch.tensor([[0.0, 0.0, 10.0, 10.0]]), torch.tensor([[0.0, 0.0, 10.0, 10.0]])]
    hit = torch.tensor([[0.0, 0.0, 10.0, 9.0]])
    miss = torch.tensor([[50.0, 50.0, 60.0, 60.0]])
    perfect = [(hit, torch.tensor([0.9])), (hit, torch.tensor([0.8]))]
    assert average_precision(perfect, truth) == pytest.approx(1.0)
    # A false positive ranked first: precision 1/2 at recall 1/2, 2/3 at recall 1.
    ranked = [(torch.cat([miss, hit]), torch.tensor([0.95, 0.9])), (hit, torch.tensor([0.8]))]
    assert average_precision(ranked, truth) == pytest.approx(0.5 * 2 / 3 + 0.5 * 2 / 3)
    # One face missed, one duplicate: recall stops at 1/2.
    duplicate = [(torch.cat([hit, hit]), torch.tensor([0.9, 0.8])), (miss, torch.tensor([0.7]))]
    assert average_precision(duplicate, truth) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="ground-truth"):
        average_precision([(hit, torch.tensor([0.9]))], [torch.zeros(0, 4)])


def test_matching_marks_overlapping_and_best_priors() -> None:
    priors = PriorBox()()
    face = torch.tensor([[100 / 320, 100 / 240, 132 / 320, 132 / 240]])
    labels, targets = match_priors(face, priors)
    assert labels.sum() >= 1 and labels[torch.arange(3000) >= 2400].sum() >= 1
    torch.testing.assert_close(
        decode_boxes(targets[labels == 1], priors[labels == 1]), face.expand(int(labels.sum()), 4), atol=1e-5, rtol=1e-5
    )
    empty_labels, _ = match_priors(torch.zeros(0, 4), priors)
    assert empty_labels.sum() == 0
    loss_loc, loss_conf = MultiBoxLoss(priors)(
        torch.zeros(2, 3000, 4), torch.zeros(2, 3000, 2), [face, torch.zeros(0, 4)]
    )
    assert loss_loc.item() > 0 and loss_conf.item() > 0
