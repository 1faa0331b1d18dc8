"""The committed checkpoints reproduce their recorded figures and meet the acceptance bars."""

from __future__ import annotations

import json

import pytest
import torch

from models.data import REAL_PHOTOS, SyntheticFaceGenerator
from models.evaluate import PhotoResult, real_photo_results, split_average_precision
from models.face_models import RNNPoolFaceDetector
from models.inference import detect_faces
from models.registry import MODELS, load_model


@pytest.fixture(scope="module", autouse=True)
def fixed_threads():
    """One thread, as the recording runs used: deterministic, and robust to a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def records() -> dict[str, dict]:
    return {name: json.loads(entry.metrics.read_text()) for name, entry in MODELS.items()}


@pytest.fixture(scope="module")
def models() -> dict[str, RNNPoolFaceDetector]:
    return {name: load_model(name) for name in MODELS}


@pytest.fixture(scope="module")
def photo_results(models) -> dict[str, dict[str, PhotoResult]]:
    return {name: {r.name: r for r in real_photo_results(model)} for name, model in models.items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_checkpoint_reproduces_recorded_test_ap(name: str, records, models) -> None:
    record = records[name]
    generator = SyntheticFaceGenerator(seed=record["seed"])
    ap = split_average_precision(models[name], "test", record["split_images"]["test"], generator)
    assert ap == pytest.approx(record["ap50_test"], abs=0.01)
    assert record["ap50_test"] >= 0.85 and record["torch_version"].startswith("2.")


@pytest.mark.parametrize(
    "name, photo", [(name, photo.name) for name in sorted(MODELS) for photo in REAL_PHOTOS if photo.frontal]
)
def test_checkpoint_finds_the_frontal_face(name: str, photo: str, photo_results, records) -> None:
    result = photo_results[name][photo]
    recorded = {r["name"]: r for r in records[name]["real_photos"]}[photo]
    assert result.score == pytest.approx(recorded["score"], abs=0.01)
    assert result.best_iou >= 0.5 and result.score >= 0.5, result


def test_qvga_does_at_least_as_well_as_m4(records) -> None:
    assert records["qvga"]["ap50_test"] >= records["m4"]["ap50_test"] - 0.005


def test_m4_checkpoint_is_sparse_like_edgeml(models) -> None:
    pool = models["m4"].rnn_model
    density = [
        float((m != 0).float().mean())
        for m in (pool.cell_rnn.cell.W, pool.cell_rnn.cell.U, pool.cell_bidirrnn.cell.W, pool.cell_bidirrnn.cell.U)
    ]
    assert density == pytest.approx([0.5, 0.3, 0.3, 0.3], abs=0.01)


def test_detect_faces_returns_pixel_boxes_best_first(models) -> None:
    image, _ = SyntheticFaceGenerator().image("test", 1)
    boxes, scores = detect_faces(models["m4"], image, min_score=0.5)
    assert boxes.shape == (len(scores), 4) and (scores >= 0.5).all()
    assert list(scores) == sorted(scores, reverse=True)
