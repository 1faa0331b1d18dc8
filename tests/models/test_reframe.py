"""Training's reframed views (models.train.reframe): letterboxed, zoomed frames whose boxes still sit on the faces,
and the M4 checkpoint trained on them finds the packaged photographs' faces in the device's single pass."""

from __future__ import annotations

import numpy as np
import pytest

from hil.bench.photos import FACE_MODELS, IOU_THRESHOLD, MIN_SCORE, photo_passes
from models.preprocess import GREY_MEAN
from models.train import MAX_FACE_FRACTION, PORTRAIT_ASPECT, reframe


def _frame_with_faces(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dark 320x240 frame with bright rectangles standing in for faces, and their boxes."""
    image = np.full((240, 320), 20, np.uint8)
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        w, h = (int(v) for v in rng.integers(12, 60, 2))
        x, y = int(rng.integers(0, 320 - w)), int(rng.integers(0, 240 - h))
        image[y : y + h, x : x + w] = 250
        boxes.append([x, y, x + w, y + h])
    return image, np.asarray(boxes, np.float32)


def test_reframed_boxes_stay_on_the_faces_and_the_padding_is_mean_grey() -> None:
    rng = np.random.default_rng(4)
    zoomed = 0
    for _ in range(60):
        image, boxes = _frame_with_faces(rng)
        frame, moved = reframe(image, boxes, rng)
        assert frame.shape == image.shape and len(moved) >= 1
        columns = np.flatnonzero((frame != round(GREY_MEAN)).any(axis=0))
        # The picture fills the frame height and at least a portrait window's width, mean grey beside it.
        assert columns[-1] - columns[0] + 1 >= round(240 * PORTRAIT_ASPECT) - 2
        for x1, y1, x2, y2 in moved.round().astype(int):
            inside = frame[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2]
            assert inside.size == 0 or inside.mean() > 200, "a moved box no longer covers its bright face"
        zoomed += (moved[:, 3] - moved[:, 1]).max() > 1.2 * (boxes[:, 3] - boxes[:, 1]).max()
    assert zoomed >= 10, "reframing should enlarge faces in a good share of the views"


def test_zoom_stops_at_the_largest_face_fraction() -> None:
    rng = np.random.default_rng(5)
    image = np.full((240, 320), 20, np.uint8)
    image[100:180, 140:200] = 250
    for _ in range(30):
        _, moved = reframe(image, np.asarray([[140, 100, 200, 180]], np.float32), rng)
        assert (moved[:, 3] - moved[:, 1]).max() <= MAX_FACE_FRACTION * 240 + 1


@pytest.mark.parametrize("model", FACE_MODELS)
def test_each_face_model_finds_both_photographs_faces_in_one_letterboxed_pass(model: str) -> None:
    """The acceptance photographs (astronaut, Grace Hopper) through the compile's integer model (the device's
    outputs bit for bit), letterboxed into 320x240, decoded with the model's own anchors."""
    passes = {p.photo: p for p in photo_passes(model) if p.acceptance}
    assert sorted(passes) == ["astronaut", "grace_hopper"]
    for found in passes.values():
        assert found.device_score >= MIN_SCORE and found.device_iou >= IOU_THRESHOLD, found
