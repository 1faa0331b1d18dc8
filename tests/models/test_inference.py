"""detect_faces: the half-scale pass maps its boxes back to the image exactly, and merges with the full frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.detection import point_form
from models.inference import detect_faces, shrunk_frame
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


def test_shrunk_frame_centres_the_picture_and_reports_its_offset() -> None:
    frame = torch.zeros(1, 1, 240, 320)
    frame[0, 0, 100:140, 200:240] = 50.0
    shrunk, (dx, dy) = shrunk_frame(frame, 0.5)
    assert (dx, dy) == (80 / 320, 60 / 240)
    rows, cols = torch.nonzero(shrunk[0, 0] > 25.0, as_tuple=True)
    assert (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())) == (110, 129, 180, 199)


def test_half_scale_boxes_map_back_to_the_image_pixels() -> None:
    image = np.full((480, 640), 128, dtype=np.uint8)
    prior = point_form(PriorBox().forward()[FACE_PRIOR : FACE_PRIOR + 1])[0].numpy()
    full = prior * [640, 480, 640, 480]
    # In the half-scale frame the image spans [80, 240) x [60, 180) of 320x240, at half size.
    half = (prior * [320, 240, 320, 240] - [80, 60, 80, 60]) * 2 * 2

    boxes, scores = detect_faces(OnePriorDetector(), image, scales=(1.0, 0.5))
    assert len(boxes) == 2 and scores == pytest.approx([1.0, 1.0])
    assert sorted(map(tuple, np.round(boxes, 3))) == sorted(map(tuple, np.round([full, half], 3)))
    only_full, _ = detect_faces(OnePriorDetector(), image, scales=(1.0,))
    assert np.allclose(only_full, [full], atol=1e-3)
