"""detect_faces: where its views put an image, and that each view's boxes map back to the image exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.detection import point_form
from models.inference import detect_faces, placed_frame, placements
from models.priors import PriorBox

FACE_PRIOR = 1234


class OnePriorDetector(torch.nn.Module):
    """Stands in for a trained detector so that box arithmetic is checked on its own: every frame it is shown gets
    one confident face exactly on prior FACE_PRIOR (zero offsets), and nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.priors = PriorBox().forward()

    def prior_box(self) -> torch.Tensor:
        return self.priors

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, count = x.shape[0], self.priors.shape[0]
        conf = torch.zeros(batch, count, 2)
        conf[:, :, 0] = 10.0
        conf[:, FACE_PRIOR] = torch.tensor([-10.0, 10.0])
        return torch.zeros(batch, count, 4), conf


def test_views_stretch_then_keep_the_aspect() -> None:
    """A 4:3 image's full aspect-keeping view is the stretched frame itself, so it is not run twice; a portrait
    gets its own full and half views, centred."""
    assert placements(480, 640) == [(0, 0, 320, 240), (80, 60, 160, 120)]
    assert placements(600, 512) == [(0, 0, 320, 240), (57, 0, 205, 240), (109, 60, 102, 120)]
    assert placements(600, 512, ()) == [(0, 0, 320, 240)]


def test_placed_frame_puts_the_picture_in_its_place_on_mean_grey() -> None:
    image = np.full((480, 640), 200, dtype=np.uint8)
    frame = placed_frame(image, (80, 60, 160, 120))
    inside = frame[0, 0, 60:180, 80:240]
    assert frame.shape == (1, 1, 240, 320) and float(frame.abs().sum()) == pytest.approx(float(inside.abs().sum()))
    assert torch.allclose(inside, inside[0, 0]) and float(inside[0, 0]) > 50


def test_half_scale_boxes_map_back_to_the_image_pixels() -> None:
    image = np.full((480, 640), 128, dtype=np.uint8)
    prior = point_form(PriorBox().forward()[FACE_PRIOR : FACE_PRIOR + 1])[0].numpy()
    full = prior * [640, 480, 640, 480]
    # In the half-scale frame the image spans [80, 240) x [60, 180) of 320x240, at half size.
    half = (prior * [320, 240, 320, 240] - [80, 60, 80, 60]) * 2 * 2

    boxes, scores = detect_faces(OnePriorDetector(), image, fractions=(1.0, 0.5))
    assert len(boxes) == 2 and scores == pytest.approx([1.0, 1.0])
    assert sorted(map(tuple, np.round(boxes, 3))) == sorted(map(tuple, np.round([full, half], 3)))
    only_full, _ = detect_faces(OnePriorDetector(), image, fractions=())
    assert np.allclose(only_full, [full], atol=1e-3)
