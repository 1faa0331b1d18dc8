"""Prior count and positions at 320x240."""

from __future__ import annotations

import pytest
import torch

from models.face_models import rnnpool_face_m4
from models.priors import PriorBox


def test_prior_count_and_sources() -> None:
    priors = PriorBox()()
    assert priors.shape == (3000, 4)
    assert PriorBox().feature_map_sizes() == [(30, 40), (30, 40), (15, 20), (15, 20)]


@pytest.mark.parametrize(
    "index, expected",
    [
        (0, (0.5 / 40, 0.5 / 30, 8 / 320, 8 / 240)),
        (41, (1.5 / 40, 1.5 / 30, 8 / 320, 8 / 240)),
        (1199, (39.5 / 40, 29.5 / 30, 8 / 320, 8 / 240)),
        (1200, (0.5 / 40, 0.5 / 30, 16 / 320, 16 / 240)),
        (2400, (0.5 / 20, 0.5 / 15, 32 / 320, 32 / 240)),
        (2400 + 20 * 3 + 7, (7.5 / 20, 3.5 / 15, 32 / 320, 32 / 240)),
        (2999, (19.5 / 20, 14.5 / 15, 48 / 320, 48 / 240)),
    ],
)
def test_prior_positions(index: int, expected: tuple[float, float, float, float]) -> None:
    torch.testing.assert_close(PriorBox()()[index], torch.tensor(expected))


def test_model_priors_follow_its_sources_at_any_size() -> None:
    model = rnnpool_face_m4()
    torch.testing.assert_close(model.priors_for(240, 320), PriorBox()())
    with torch.no_grad():
        loc, _ = model.eval()(torch.zeros(1, 1, 120, 160))
    assert model.priors_for(120, 160).shape[0] == loc.shape[1] == 2 * 15 * 20 + 2 * 8 * 10
