"""The outputs' change where detections are read (models.output_change) and the SNR bench_accuracy prints from it."""

from __future__ import annotations

import numpy as np
import torch

from hil.compiler.output_measures import face_output_snr
from models.output_change import face_output_change


def _outputs(rng: np.random.Generator, anchors: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """loc [1, N, 4] and conf logits [1, N, 2] where the first 10 anchors are faces (probability ~0.9)."""
    loc = torch.from_numpy(rng.normal(0, 1.5, (1, anchors, 4)))
    conf = torch.zeros(1, anchors, 2, dtype=torch.float64)
    conf[0, :, 0] = 4.0
    conf[0, :10] = torch.tensor([0.0, 2.2], dtype=torch.float64)
    return loc, conf


def test_inflating_the_background_neither_helps_nor_hurts_the_face_measure() -> None:
    """Scaling the background loc by 6 (what the all-anchor tolerance objective learnt) leaves the face measure's
    loc SNR alone; the all-anchor SNR rises by about 15 dB."""
    rng = np.random.default_rng(0)
    loc, conf = _outputs(rng)
    noise = torch.from_numpy(rng.normal(0, 0.05, loc.shape))
    inflated = loc.clone()
    inflated[0, 10:] *= 6
    plain = face_output_snr([loc.numpy(), conf.numpy()], [(loc + noise).numpy(), conf.numpy()])
    grown = face_output_snr([inflated.numpy(), conf.numpy()], [(inflated + noise).numpy(), conf.numpy()])
    assert grown["loc"] > plain["loc"] + 12
    assert plain["face_anchors"] == grown["face_anchors"] == 10
    assert abs(grown["loc_faces"] - plain["loc_faces"]) < 1e-9
    expected = 10 * np.log10(float((loc[0, :10] ** 2).sum() / (noise[0, :10] ** 2).sum()))
    assert abs(plain["loc_faces"] - expected) < 1e-6


def test_face_probability_change_and_no_face_anchor() -> None:
    rng = np.random.default_rng(1)
    loc, conf = _outputs(rng)
    moved = conf.clone()
    moved[0, :10, 1] -= 1.0  # every face's score drops from 0.9 to about 0.77
    loc_ratio, probability_ratio = face_output_change((loc, moved), (loc, conf))
    assert loc_ratio == 0 and 0.01 < probability_ratio < 0.05
    background = torch.zeros_like(conf)
    background[..., 0] = 5.0
    result = face_output_snr([loc.numpy(), background.numpy()], [loc.numpy(), background.numpy()])
    assert result["face_anchors"] == 0 and result["loc_faces"] is None and result["face_probability"] == float("inf")
