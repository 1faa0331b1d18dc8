"""Truth files as labelling tools export them: COCO JSON and Pascal VOC XML, with boxes, class names, or both."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hil.catalog.truth import class_index, load_truth
from hil.errors import ModelSpecError


def test_coco_boxes_and_classes_and_the_largest_box_names_a_picture_with_several(tmp_path):
    """A hidden file beside the truth (a Mac's '._truth.json') is not read as truth."""
    coco = {
        "images": [
            {"id": 1, "file_name": "sub/a.png"},
            {"id": 2, "file_name": "b.png"},
            {"id": 3, "file_name": "c.png"},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]},
            {"image_id": 1, "category_id": 2, "bbox": [4, 4, 10, 5]},
            {"image_id": 2, "category_id": 2},
        ],
    }
    (tmp_path / "truth.json").write_text(json.dumps(coco))
    (tmp_path / "._truth.json").write_bytes(b"\x00\x05\x16\x07 a Mac's Finder metadata, not COCO")
    truth = load_truth(tmp_path)
    assert truth["a.png"].boxes.tolist() == [[0, 0, 2, 2], [4, 4, 14, 9]]
    assert truth["a.png"].picture_class() == "dog"
    assert truth["b.png"].boxes.shape == (0, 4) and truth["b.png"].picture_class() == "dog"
    assert truth["c.png"].picture_class() is None and truth["c.png"].boxes.shape == (0, 4)


def test_voc_with_and_without_boxes(tmp_path):
    (tmp_path / "a.xml").write_text(
        "<annotation><filename>a.png</filename><object><name>bird</name><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>"
    )
    (tmp_path / "b.xml").write_text(
        "<annotation><filename>b.png</filename><object><name> cat </name></object></annotation>"
    )
    truth = load_truth(tmp_path)
    assert np.array_equal(truth["a.png"].boxes, [[1, 2, 3, 4]]) and truth["a.png"].picture_class() == "bird"
    assert truth["b.png"].picture_class() == "cat" and truth["b.png"].boxes.shape == (0, 4)


def test_class_names_map_to_the_spec_labels_or_are_class_numbers():
    assert class_index("dog", ("cat", "dog"), "m") == 1
    assert class_index("1", ("cat", "dog"), "m") == 1
    assert class_index("7", (), "m") == 7
    with pytest.raises(
        ModelSpecError, match=r"^truth class 'zebra' is not a class of model m: expected one of cat, dog"
    ):
        class_index("zebra", ("cat", "dog"), "m")
    with pytest.raises(ModelSpecError, match="expected a class number"):
        class_index("zebra", (), "m")


def test_a_coco_file_without_images_names_what_it_expected(tmp_path):
    (tmp_path / "truth.json").write_text(json.dumps({"annotations": []}))
    with pytest.raises(
        ModelSpecError, match=r"truth.json: not a COCO annotation file .*expected images\[\]\.file_name"
    ):
        load_truth(tmp_path)
