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
    assert truth.for_picture("a.png") is truth["sub/a.png"]
    assert truth["sub/a.png"].boxes.tolist() == [[0, 0, 2, 2], [4, 4, 14, 9]]
    assert truth["sub/a.png"].picture_class() == "dog"
    assert truth["b.png"].boxes.shape == (0, 4) and truth["b.png"].picture_class() == "dog"
    assert truth["c.png"].picture_class() is None and truth["c.png"].boxes.shape == (0, 4)


def _voc(folder, picture: str, body: str) -> None:
    """A Pascal VOC file for picture, its <filename> then body."""
    stem = picture.rsplit(".", 1)[0]
    (folder / f"{stem}.xml").write_text(f"<annotation><filename>{picture}</filename>{body}</annotation>")


def test_voc_with_and_without_boxes(tmp_path):
    box = "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>"
    _voc(tmp_path, "a.png", f"<object><name>bird</name>{box}</object>")
    _voc(tmp_path, "b.png", "<object><name> cat </name></object>")
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


def test_a_declared_size_is_checked_against_the_picture(tmp_path):
    """COCO's images[].width/height and VOC's <size> say which picture the boxes were drawn on: another size is one
    line naming both, a turned one names the EXIF orientation; an undeclared or zero size checks nothing."""
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.png"},
        ],
        "annotations": [{"image_id": 1, "bbox": [1, 2, 3, 4]}],
    }
    (tmp_path / "truth.json").write_text(json.dumps(coco))
    _voc(tmp_path, "c.jpg", "<size><width>0</width><height>0</height><depth>3</depth></size>")
    _voc(tmp_path, "d.jpg", "<size><width>4032</width><height>3024</height></size>")
    truth = load_truth(tmp_path)
    assert truth["a.png"].size == (40, 30) and truth["d.jpg"].size == (4032, 3024)
    assert truth["b.png"].size is None and truth["c.jpg"].size is None
    truth["a.png"].check_size("a.png", 40, 30)
    truth["b.png"].check_size("b.png", 7, 9)
    with pytest.raises(ModelSpecError, match=r"^a.png: its truth is for a 40x30 picture, the picture is 80x60; exp"):
        truth["a.png"].check_size("a.png", 80, 60)
    with pytest.raises(ModelSpecError, match=r"d.jpg: .* 4032x3024 picture, and the picture reads 3024x4032 upright"):
        truth["d.jpg"].check_size("d.jpg", 3024, 4032)


def test_a_size_that_is_not_a_number_names_the_file(tmp_path):
    _voc(tmp_path, "e.jpg", "<size><width>wide</width><height>3</height></size>")
    with pytest.raises(ModelSpecError, match=r"e.xml: not a Pascal VOC annotation \(ValueError"):
        load_truth(tmp_path)


def test_a_folder_per_class_is_the_truth_of_its_pictures(tmp_path):
    """A classification set laid out as torchvision's ImageFolder reads it: each subfolder's name is its pictures'
    class, pictures are named with their folder in front; hidden folders and files are not pictures."""
    from hil.catalog.preprocess import picture_files, picture_name

    for folder, names in (("cat", ("b.png", "a.jpg")), ("dog", ("c.png",)), (".cache", ("x.png",))):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / name).write_bytes(b"")
    (tmp_path / "cat" / "._a.jpg").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    names = [picture_name(tmp_path, p) for p in picture_files(tmp_path)]
    assert names == ["cat/a.jpg", "cat/b.png", "dog/c.png"]
    truth = load_truth(tmp_path)
    assert {name: t.picture_class() for name, t in truth.items()} == {
        "cat/a.jpg": "cat",
        "cat/b.png": "cat",
        "dog/c.png": "dog",
    }
    assert all(t.boxes.shape == (0, 4) for t in truth.values())
    (tmp_path / "top.png").write_bytes(b"")
    assert [p.name for p in picture_files(tmp_path)] == ["top.png"], "pictures at the top are the set"
    assert load_truth(tmp_path) == {}, "and their folders are no truth"


WIDER = """0--Parade/0_Parade_marchingband_1_849.jpg
1
449 330 122 149 0 0 0 0 0 0
0--Parade/0_Parade_Parade_0_904.jpg
2
361 98 263 339 0 0 0 0 0 0
10 20 5 6 2 0 0 1 0 0
1--Handshaking\\1_Handshaking_0.jpg
0
0 0 0 0 0 0 0 0 0 0
"""


def test_wider_face_ground_truth_gives_face_boxes_without_the_invalid_ones(tmp_path):
    """WIDER FACE's wider_face_val_bbx_gt.txt beside the pictures: boxes per picture path, the faces it marks
    invalid left out, a picture without faces has none; a text file that is not WIDER's is not truth."""
    from hil.catalog.truth import truth_files

    (tmp_path / "wider_face_val_bbx_gt.txt").write_text(WIDER)
    (tmp_path / "README.txt").write_text("Pictures from the parade.\n3\n")
    assert [p.name for p in truth_files(tmp_path)] == ["wider_face_val_bbx_gt.txt"]
    truth = load_truth(tmp_path)
    assert sorted(truth) == [
        "0--Parade/0_Parade_Parade_0_904.jpg",
        "0--Parade/0_Parade_marchingband_1_849.jpg",
        "1--Handshaking/1_Handshaking_0.jpg",
    ]
    assert truth["0--Parade/0_Parade_marchingband_1_849.jpg"].boxes.tolist() == [[449, 330, 571, 479]]
    assert truth["0--Parade/0_Parade_Parade_0_904.jpg"].boxes.tolist() == [[361, 98, 624, 437]]
    assert truth["1--Handshaking/1_Handshaking_0.jpg"].boxes.shape == (0, 4)
    assert truth.for_picture("0_Parade_Parade_0_904.jpg") is truth["0--Parade/0_Parade_Parade_0_904.jpg"]
    assert truth.for_picture("other/0_Parade_Parade_0_904.jpg") is truth["0--Parade/0_Parade_Parade_0_904.jpg"]
    assert truth.for_picture("missing.jpg") is None


def test_wider_face_ground_truth_cut_short_names_the_file_and_line(tmp_path):
    (tmp_path / "gt.txt").write_text("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n")
    with pytest.raises(
        ModelSpecError, match=r"gt.txt: not WIDER FACE ground truth near line 1 \(ValueError: a.jpg has 2"
    ):
        load_truth(tmp_path)


def test_same_named_pictures_in_two_folders_keep_their_own_truth(tmp_path):
    """Two event folders each with a 0001.jpg: COCO names them with their folders (under another root, as an export
    from elsewhere does), VOC with its <folder>. Each picture gets its own boxes, not both pictures' merged."""
    coco = {
        "images": [{"id": 1, "file_name": "val\\a\\0001.jpg"}, {"id": 2, "file_name": "val/b/0001.jpg"}],
        "annotations": [{"image_id": 1, "bbox": [0, 0, 2, 2]}, {"image_id": 2, "bbox": [5, 5, 1, 1]}],
    }
    (tmp_path / "truth.json").write_text(json.dumps(coco))
    truth = load_truth(tmp_path)
    assert truth.for_picture("a/0001.jpg").boxes.tolist() == [[0, 0, 2, 2]]
    assert truth.for_picture("b/0001.jpg").boxes.tolist() == [[5, 5, 6, 6]]

    voc = tmp_path / "voc"
    voc.mkdir()
    for folder, x in (("a", 1), ("b", 7)):
        box = f"<bndbox><xmin>{x}</xmin><ymin>0</ymin><xmax>{x + 1}</xmax><ymax>1</ymax></bndbox>"
        (voc / f"{folder}_0001.xml").write_text(
            f"<annotation><folder>{folder}</folder><filename>0001.jpg</filename><object>{box}</object></annotation>"
        )
    truth = load_truth(voc)
    assert truth.for_picture("a/0001.jpg").boxes.tolist() == [[1, 0, 2, 1]]
    assert truth.for_picture("b/0001.jpg").boxes.tolist() == [[7, 0, 8, 1]]


def test_truth_that_cannot_tell_two_pictures_apart_says_so(tmp_path):
    """A picture the truth names twice alike (two folders' 0001.jpg, the picture copied flat), and one picture
    annotated in two files: each a one-line error naming both, not one picture's boxes given to the other."""
    coco = {"images": [{"id": 1, "file_name": "a/0001.jpg"}, {"id": 2, "file_name": "b/0001.jpg"}]}
    (tmp_path / "truth.json").write_text(json.dumps(coco))
    with pytest.raises(ModelSpecError, match=r"^0001.jpg: the truth names 2 pictures alike \(a/0001.jpg, b/0001.jpg\)"):
        load_truth(tmp_path).for_picture("0001.jpg")
    (tmp_path / "copy.json").write_text(json.dumps(coco))
    with pytest.raises(ModelSpecError, match=r"^a/0001.jpg is annotated in both copy.json and truth.json; expected"):
        load_truth(tmp_path)


def test_truth_kept_apart_from_the_pictures_as_data_sets_ship_it(tmp_path):
    """Pascal VOC as it unpacks: JPEGImages/ with Annotations/ beside it (each XML naming its <folder> VOC2007),
    given as a folder; COCO's annotations/instances_val2017.json given as a file. Given truth replaces the folder's
    own and its class subfolders."""
    from hil.catalog.truth import truth_sources

    voc = tmp_path / "VOC2007"
    (voc / "JPEGImages").mkdir(parents=True)
    (voc / "Annotations").mkdir()
    box = "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>"
    (voc / "Annotations" / "000005.xml").write_text(
        f"<annotation><folder>VOC2007</folder><filename>000005.jpg</filename><object><name>chair</name>{box}"
        "</object></annotation>"
    )
    truth = load_truth(voc / "JPEGImages", voc / "Annotations")
    assert truth.for_picture("000005.jpg").box_labels == ("chair",)

    coco = tmp_path / "annotations" / "instances_val2017.json"
    coco.parent.mkdir()
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "000139.jpg"}], "annotations": []}))
    pictures = tmp_path / "val2017" / "cat"
    pictures.mkdir(parents=True)
    (pictures / "000139.jpg").write_bytes(b"")
    (pictures.parent / "own.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "other.jpg"}]}))
    assert truth_sources(pictures.parent, coco) == [coco]
    assert sorted(load_truth(pictures.parent, coco)) == ["000139.jpg"], "not own.json's, nor the class folder's"
