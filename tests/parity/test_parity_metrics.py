"""Parity metrics on hand-made cases whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil.parity.detection_parity import compare_detections, iou_matrix
from hil.parity.divergence import first_divergence
from hil.parity.tensor_metrics import compare_tensors, dequantise


def test_equal_tensors_have_infinite_snr_and_unit_cosine():
    x = np.arange(10.0)
    result = compare_tensors(x, x)
    assert result.snr_db == math.inf and result.cosine == pytest.approx(1.0) and result.differing_values == 0


def test_snr_of_a_known_error():
    reference = np.ones(100)
    test = reference + 0.1  # error power 0.01, signal power 1: 20 dB
    result = compare_tensors(reference, test)
    assert result.snr_db == pytest.approx(20.0)
    assert result.max_abs_error == pytest.approx(0.1) and result.rmse == pytest.approx(0.1)


def test_shapes_must_agree():
    with pytest.raises(ValueError, match=r"shape \(3,\) with a reference of shape \(4,\)"):
        compare_tensors(np.zeros(4), np.zeros(3))


def test_dequantise_uses_scale_and_zero_point():
    assert dequantise(np.array([-128, 0, 127], dtype=np.int8), 0.5, 1).tolist() == [-64.5, -0.5, 63.0]


def test_iou_of_known_boxes():
    ious = iou_matrix(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]))
    assert ious[0].tolist() == pytest.approx([1 / 7, 1.0, 0.0])


def test_detection_parity_counts_matches_above_the_score():
    reference = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], dtype=float)
    reference_scores = np.array([0.9, 0.8, 0.3])  # the third is below 0.5: not counted
    device = np.array([[1, 1, 10, 10], [60, 60, 70, 70]], dtype=float)
    device_scores = np.array([0.95, 0.7])
    parity = compare_detections(reference, reference_scores, device, device_scores)
    assert (parity.matched, parity.reference_count, parity.device_matched, parity.device_count) == (1, 2, 1, 2)
    assert parity.recall == 0.5 and parity.precision == 0.5


def test_a_face_scored_just_under_the_threshold_counts_within_the_margin_only():
    """Float 0.52 / device 0.47 is the same finding within the 0.05 margin; device 0.44 is not; with no margin
    neither is. The margin works both ways: a device 0.52 against a float 0.47 keeps precision."""
    box = np.array([[0, 0, 10, 10]], dtype=float)
    assert compare_detections(box, np.array([0.52]), box, np.array([0.47])).recall == 1.0
    assert compare_detections(box, np.array([0.52]), box, np.array([0.44])).recall == 0.0
    assert compare_detections(box, np.array([0.52]), box, np.array([0.47]), score_margin=0.0).recall == 0.0
    reversed_ = compare_detections(box, np.array([0.47]), box, np.array([0.52]))
    assert (reversed_.reference_count, reversed_.device_count, reversed_.precision) == (0, 1, 1.0)
    with pytest.raises(ValueError, match="score_margin"):
        compare_detections(box, np.array([0.5]), box, np.array([0.5]), score_margin=-0.1)


def test_one_device_box_cannot_match_two_reference_boxes():
    reference = np.array([[0, 0, 10, 10], [0, 0, 10, 11]], dtype=float)
    parity = compare_detections(reference, np.array([0.9, 0.9]), reference[:1], np.array([0.9]))
    assert parity.matched == 1 and parity.recall == 0.5 and parity.precision == 1.0


def test_no_detections_on_either_side_agree():
    empty = np.zeros((0, 4))
    parity = compare_detections(empty, np.zeros(0), empty, np.zeros(0))
    assert parity.recall == parity.precision == 1.0


def test_first_divergence_names_the_layer_and_position():
    reference = [("stem", np.zeros((2, 2), np.int8)), ("rnnpool", np.ones((3,), np.int8)), ("head", np.zeros(1))]
    device = [np.zeros((2, 2), np.int8), np.array([1, 7, 1], np.int8), np.ones(1)]
    found = first_divergence(reference, device)
    assert found is not None and found.layer == "rnnpool" and found.index == 1
    assert found.first_position == (1,) and (found.expected, found.got) == (1, 7)
    assert "first diverging layer: #1 rnnpool: 1 of 3 values differ" in found.describe()


def test_no_divergence_when_all_layers_agree():
    layers = [("a", np.arange(4))]
    assert first_divergence(layers, [np.arange(4)]) is None
