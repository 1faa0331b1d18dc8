"""Prior count and positions at 320x240."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hil.catalog import CATALOG, with_checkpoint
from models.face_models import rnnpool_face_m4
from models.priors import PriorBox
from models.registry import load_model


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


@pytest.mark.parametrize("name, last_anchor", [("m4", 48), ("qvga", 64)])
def test_each_model_keeps_its_own_anchors(name: str, last_anchor: int) -> None:
    model = load_model(name, pretrained=False)
    priors = model.priors_for(240, 320)
    assert priors.shape == (3000, 4)
    torch.testing.assert_close(priors, model.prior_box())
    torch.testing.assert_close(priors[-1, 2:], torch.tensor([last_anchor / 320, last_anchor / 240]))
    torch.testing.assert_close(priors[:2400], PriorBox()()[:2400])


@pytest.mark.parametrize("catalog_name, last_anchor", [("rnnpool_face_m4", 48), ("rnnpool_face_qvga", 64)])
def test_the_catalog_decodes_a_model_with_its_own_anchors(catalog_name: str, last_anchor: int) -> None:
    """A face at the last prior with zero offsets decodes to that prior's box, so a decoder holding the other
    model's anchors would draw it the wrong size."""
    loc = np.zeros((1, 3000, 4), np.float32)
    conf = np.tile(np.array([4.0, -4.0], np.float32), (1, 3000, 1))
    conf[0, -1] = (-4.0, 4.0)
    boxes, scores = CATALOG[catalog_name].decode([loc, conf])
    assert len(scores) == 1 and scores[0] > 0.99
    centre = np.array([19.5 * 16, 14.5 * 16])
    half = last_anchor / 2
    np.testing.assert_allclose(boxes[0], np.concatenate([centre - half, centre + half]), atol=1e-3)


def test_a_user_checkpoint_decodes_with_the_anchors_it_was_trained_with(tmp_path: Path) -> None:
    """`--model rnnpool_face_qvga --checkpoint edgeml.pt`: an EdgeML state_dict (no anchor_sizes) decodes with
    EdgeML's 48-px anchor, not the committed checkpoint's 64."""
    state = load_model("qvga", pretrained=False).state_dict()
    del state["anchor_sizes"]
    torch.save(state, tmp_path / "edgeml.pt")
    spec = with_checkpoint(CATALOG["rnnpool_face_qvga"], tmp_path / "edgeml.pt")
    loc = np.zeros((1, 3000, 4), np.float32)
    conf = np.tile(np.array([4.0, -4.0], np.float32), (1, 3000, 1))
    conf[0, -1] = (-4.0, 4.0)
    boxes, _ = spec.decode([loc, conf])
    assert boxes[0, 2] - boxes[0, 0] == pytest.approx(48, abs=1e-3)
    boxes, _ = CATALOG["rnnpool_face_qvga"].decode([loc, conf])
    assert boxes[0, 2] - boxes[0, 0] == pytest.approx(64, abs=1e-3)
