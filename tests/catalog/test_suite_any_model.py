"""The user-facing suite (test_cases/) on QEMU for users' own models, through pytest itself: the tests that apply
to the model's task run, the others are not collected (deselected, no rows of skips); with --images, truth
from COCO JSON or Pascal VOC XML gives AP (detectors) or top-1 accuracy (classifiers), test ids are the file
names, a bad file fails alone."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "test_cases"

NETS = """
import numpy as np
import torch
from torch import nn
from hil.catalog import ModelSpec


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Conv2d(4, 3, 8)

    def forward(self, x):
        return self.head(self.relu(self.conv(x)))


def classifier():
    return ModelSpec(
        name="suite_classifier",
        build=lambda: Classifier().eval(),
        input_shape=(1, 3, 16, 16),
        output_names=("scores",),
        task="classification",
        calibration=lambda n: np.random.default_rng(1).uniform(0, 1, (n, 3, 16, 16)).astype(np.float32),
        calibration_count=16,
        labels=("cat", "dog", "bird"),
    )


class Bright(nn.Module):
    \"\"\"A detector of bright 4x4 squares: one score per 4x4 cell (its mean brightness).\"\"\"

    def __init__(self):
        super().__init__()
        self.cells = nn.Conv2d(1, 1, 4, stride=4, bias=False)
        with torch.no_grad():
            self.cells.weight.fill_(1 / 16)

    def forward(self, x):
        return self.cells(x)


def decode_bright(outputs):
    scores = outputs[0][0, :, :, 0]
    rows, cols = np.nonzero(scores >= 0.0)
    boxes = np.stack([cols * 4, rows * 4, cols * 4 + 4, rows * 4 + 4], axis=1).astype(np.float32)
    return boxes, scores[rows, cols]


def bright():
    return ModelSpec(
        name="suite_bright",
        build=lambda: Bright().eval(),
        input_shape=(1, 1, 16, 16),
        output_names=("cells",),
        task="detection",
        decode=decode_bright,
        calibration=lambda n: np.random.default_rng(2).uniform(0, 1, (n, 1, 16, 16)).astype(np.float32),
    )
"""


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    path = tmp_path / "suite_nets.py"
    path.write_text(NETS)
    return path


def _suite(pytester: pytest.Pytester, out: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        str(SUITE), "--emulate", "qemu", "-p", "no:cacheprovider", "--hil-out", str(out), "-rA", *args
    )


def test_a_classifier_runs_parity_and_top1_and_nothing_of_detection(pytester, tmp_path, nets):
    result = _suite(pytester, tmp_path / "out", "--model", f"{nets}:classifier", "--hil-image-count", "3")
    result.assert_outcomes(passed=9, deselected=9)
    assert re.search(r"^PASSED \S+::test_the_compile_runs_the_precision_it_records", result.stdout.str(), re.M)
    output = result.stdout.str()
    assert "SKIPPED" not in output and "test_detection" not in output and "written_in_c" not in output
    for name in ("test_top1_agrees_with_float", "test_device_matches_reference_and_float[input2]", "memory"):
        assert name in output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "top1_agreement" in json.dumps(results)


def _square(size: int, x: int, y: int) -> np.ndarray:
    picture = np.zeros((size, size), np.uint8)
    picture[y : y + size // 4, x : x + size // 4] = 255
    return picture


def test_images_with_coco_truth_bad_file_and_conversion(pytester, tmp_path, nets):
    """A picture that cannot be read fails its own tests; a hidden file beside the pictures is not one of them."""
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), _square(16, 4, 8))
    cv2.imwrite(str(images / "b.png"), cv2.cvtColor(_square(32, 16, 0), cv2.COLOR_GRAY2BGR))  # 32x32 colour
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    (images / "._a.png").write_bytes(b"\x00\x05\x16\x07 a Mac's Finder metadata for a.png, not a picture")
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
        "annotations": [{"image_id": 1, "bbox": [4, 8, 4, 4]}, {"image_id": 2, "bbox": [16, 0, 8, 8]}],
    }
    (images / "truth.json").write_text(json.dumps(coco))
    result = _suite(pytester, tmp_path / "out", "--model", f"{nets}:bright", "--images", str(images))
    output = result.stdout.str()
    result.assert_outcomes(passed=10, errors=2, deselected=6)
    assert "ERROR at setup of test_device_matches_reference_and_float[broken.png]" in output
    # Once in each erroring test's section; pytest's short summary ("ERROR ...") repeats it where CI=true
    # widens its lines.
    lines = output.splitlines()
    errors = [line for line in lines if "broken.png: not a readable" in line and not line.startswith("ERROR ")]
    assert len(errors) == 2, output
    assert "test_detections_match_float[a.png]" in output and "test_detections_match_float[b.png]" in output
    assert output.count("pictures differ from suite_bright's input") == 1
    assert "b.png: converted to grey, stretched" not in output and "b.png: converted to grey, letterboxed" in output
    results = json.dumps(json.loads((tmp_path / "out" / "results.json").read_text()))
    assert "ap50_device" in results and "ap50_float" in results
    kept = [json.loads(line) for line in (tmp_path / "out" / "detections.jsonl").read_text().splitlines()]
    by_name = {row["input"]: row for row in kept}
    assert sorted(by_name) == ["a.png", "b.png"] and by_name["b.png"]["truth"] == [[8.0, 0.0, 12.0, 4.0]]
    assert [row["box"] for row in by_name["a.png"]["device"]] == [[4.0, 8.0, 8.0, 12.0]]
    assert by_name["a.png"]["device"][0]["score"] == pytest.approx(1.0, abs=0.01)


def test_truth_drawn_on_another_size_of_the_picture_fails_that_picture(pytester, tmp_path, nets):
    """Truth whose declared size is not the picture's (drawn on a larger copy, or on a photograph as stored when
    its EXIF tag turns it) would put its boxes elsewhere and lower AP silently, as would truth that names two
    pictures alike (two folders' c.png, the picture copied flat): that picture's tests fail with one line, the
    others run."""
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), _square(16, 4, 8))
    cv2.imwrite(str(images / "big.png"), _square(16, 0, 0))
    cv2.imwrite(str(images / "c.png"), _square(16, 0, 0))
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 16, "height": 16},
            {"id": 2, "file_name": "big.png", "width": 64, "height": 64},
            {"id": 3, "file_name": "x/c.png"},
            {"id": 4, "file_name": "y/c.png"},
        ],
        "annotations": [{"image_id": 1, "bbox": [4, 8, 4, 4]}, {"image_id": 2, "bbox": [0, 0, 16, 16]}],
    }
    (images / "truth.json").write_text(json.dumps(coco))
    result = _suite(pytester, tmp_path / "out", "--model", f"{nets}:bright", "--images", str(images))
    result.assert_outcomes(passed=8, errors=4, deselected=6)
    output = result.stdout.str()
    message = "big.png: its truth is for a 64x64 picture, the picture is 16x16; expected truth drawn on this picture"
    assert output.count(message) >= 2, output
    assert output.count("c.png: the truth names 2 pictures alike (x/c.png, y/c.png); expected one") >= 2, output
    assert re.search(r"^PASSED \S+::test_detections_match_float\[a.png\]", output, re.M)
    assert re.search(r"^PASSED \S+::test_average_precision_is_within_tolerance_of_float", output, re.M)


def test_truth_that_names_no_picture_or_holds_no_box_fails_ap_saying_so(pytester, tmp_path, nets):
    """AP needs truth boxes: truth under other file names (exported from another folder, or with the names' case
    changed) or without a box is one line saying which, not a traceback from the metric; pictures without truth
    are counted in a warning."""
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), _square(16, 4, 8))
    cv2.imwrite(str(images / "b.png"), _square(16, 0, 0))
    coco = {
        "images": [{"id": 1, "file_name": "A.PNG"}, {"id": 2, "file_name": "B.PNG"}],
        "annotations": [{"image_id": 1, "bbox": [4, 8, 4, 4]}, {"image_id": 2, "bbox": [0, 0, 4, 4]}],
    }
    (images / "truth.json").write_text(json.dumps(coco))
    args = ("--model", f"{nets}:bright", "--images", str(images), "-k", "average_precision")
    result = _suite(pytester, tmp_path / "out", *args)
    result.assert_outcomes(failed=1, deselected=None)
    output = result.stdout.str()
    assert (
        "none of the 2 pictures has truth under its file name: the truth names 2 pictures (e.g. A.PNG, B.PNG), "
        "the folder holds e.g. a.png, b.png" in output
    ), output
    assert "2 of 2 pictures have no truth under their file name (e.g. a.png)" in output
    assert "Traceback" not in output and "ValueError" not in output

    coco = {"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1, "category_id": 1}]}
    (images / "truth.json").write_text(json.dumps(coco))
    result = _suite(pytester, tmp_path / "out2", *args)
    result.assert_outcomes(failed=1, deselected=None)
    output = result.stdout.str()
    assert "the truth of the 1 labelled pictures holds no box; expected a COCO bbox" in output, output
    assert "1 of 2 pictures have no truth under their file name (e.g. b.png)" in output


def test_a_detector_on_wider_face_folders_and_ground_truth(pytester, tmp_path, nets):
    """A part of WIDER FACE as it unpacks: pictures in WIDER_val/images/<event>/, the ground truth apart in
    wider_face_split/ (given with --hil-truth). Test ids carry the event folder, AP is measured against WIDER's
    boxes, and the run's metadata names the truth."""
    images = tmp_path / "WIDER_val" / "images"
    for name, (x, y) in (("0--Parade/a.png", (4, 8)), ("1--Handshaking/b.png", (0, 0))):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(images / name), _square(16, x, y))
    gt = "0--Parade/a.png\n1\n4 8 4 4 0 0 0 0 0 0\n1--Handshaking/b.png\n1\n0 0 4 4 0 0 0 0 0 0\n"
    split = tmp_path / "wider_face_split"
    split.mkdir()
    (split / "wider_face_val_bbx_gt.txt").write_text(gt)
    (split / "readme.txt").write_text("Attached the mappings between attribute names and label values.\n")
    args = (
        "--model",
        f"{nets}:bright",
        "--images",
        str(images),
        "--hil-truth",
        str(split / "wider_face_val_bbx_gt.txt"),
    )
    result = _suite(pytester, tmp_path / "out", *args)
    output = result.stdout.str()
    assert re.search(r"^PASSED \S+::test_average_precision_is_within_tolerance_of_float$", output, re.M), output
    assert re.search(r"^PASSED \S+::test_detections_match_float\[0--Parade/a.png\]$", output, re.M), output
    result.assert_outcomes(passed=10, deselected=6)
    kept = [json.loads(line) for line in (tmp_path / "out" / "detections.jsonl").read_text().splitlines()]
    assert {row["input"]: row["truth"] for row in kept} == {
        "0--Parade/a.png": [[4.0, 8.0, 8.0, 12.0]],
        "1--Handshaking/b.png": [[0.0, 0.0, 4.0, 4.0]],
    }
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "ap50_device" in json.dumps(results)
    assert f"truth {split / 'wider_face_val_bbx_gt.txt'}" in json.dumps(results), results


def test_classifier_images_with_coco_and_voc_classes_and_an_unknown_class(pytester, tmp_path, nets):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(5)
    for name in ("a.png", "b.png", "c.png", "d.png"):
        cv2.imwrite(str(images / name), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}, {"id": 4, "file_name": "d.png"}],
        "categories": [{"id": 7, "name": "cat"}, {"id": 8, "name": "dog"}, {"id": 9, "name": "zebra"}],
        "annotations": [
            {"image_id": 1, "category_id": 7},
            {"image_id": 2, "category_id": 7, "bbox": [0, 0, 2, 2]},
            {"image_id": 2, "category_id": 8, "bbox": [0, 0, 8, 8]},
            {"image_id": 4, "category_id": 9},
        ],
    }
    (images / "truth.json").write_text(json.dumps(coco))
    (images / "c.xml").write_text(
        "<annotation><filename>c.png</filename><object><name>bird</name></object></annotation>"
    )
    result = _suite(pytester, tmp_path / "out", "--model", f"{nets}:classifier", "--images", str(images))
    output = result.stdout.str()
    assert "d.png: truth class 'zebra' is not a class of model suite_classifier: expected one of cat, dog, bird" in (
        output
    )
    assert re.search(r"^PASSED \S+::test_top1_accuracy_is_within_tolerance_of_float$", output, re.M), output
    result.assert_outcomes(passed=10, errors=1, deselected=9)
    results = json.dumps(json.loads((tmp_path / "out" / "results.json").read_text()))
    assert "top1_float" in results and "top1_device" in results


def test_a_classifier_reads_a_folder_per_class(pytester, tmp_path, nets):
    """Pictures in one folder per class (torchvision's ImageFolder layout): each folder names its pictures' class,
    test ids carry it ('cat/a.png'), top-1 accuracy is measured; a folder whose name is not one of the model's
    classes fails its pictures saying so."""
    images = tmp_path / "images"
    rng = np.random.default_rng(6)
    for name in ("cat/a.png", "cat/b.png", "dog/a.png", "zebra/z.png"):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(images / name), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    result = _suite(pytester, tmp_path / "out", "--model", f"{nets}:classifier", "--images", str(images))
    output = result.stdout.str()
    assert "zebra/z.png: truth class 'zebra' is not a class of model suite_classifier" in output, output
    assert re.search(r"^PASSED \S+::test_top1_accuracy_is_within_tolerance_of_float$", output, re.M), output
    assert re.search(r"^PASSED \S+::test_device_matches_reference_and_float\[cat/b.png\]$", output, re.M)
    assert re.search(r"^PASSED \S+::test_device_matches_reference_and_float\[dog/a.png\]$", output, re.M)
    result.assert_outcomes(passed=10, errors=1, deselected=9)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "top1_device" in json.dumps(results)
    # A detector has no boxes to be measured against there: its AP is not collected, its parity runs.
    result = _suite(
        pytester, tmp_path / "out2", "--model", f"{nets}:bright", "--images", str(images), "-k", "match or average"
    )
    result.assert_outcomes(passed=9, errors=0, deselected=None)
    assert "average_precision" not in result.stdout.str()


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one process", "two workers"])
def test_a_first_compile_says_what_it_does_before_the_first_test(pytester, tmp_path, workers):
    """The compile before the first test can take minutes (a face model's searches): its stages reach the terminal,
    also from xdist workers, which have no terminal of their own: their lines come on the run's stderr after the
    worker's name. Of two workers one compiles and the other waits for it and copies its compile, saying nothing.
    Weights seeded afresh, so no earlier run's compile is in the store."""
    nets = tmp_path / "fresh_nets.py"
    nets.write_text(NETS.replace("torch.manual_seed(3)", f"torch.manual_seed({int.from_bytes(os.urandom(4))})"))
    result = _suite(pytester, tmp_path / "out", "--model", f"{nets}:classifier", "-k", "compile_runs", *workers)
    result.assert_outcomes(passed=1, deselected=None if workers else 27)  # xdist's controller counts none
    said = result.stderr if workers else result.stdout
    prefix = "[[]gw?[]] " if workers else ""
    said.fnmatch_lines(
        [
            f"{prefix}hil: compiling *fresh_nets.py:classifier (unless cached) and building its firmware",
            f"{prefix}hil: suite_classifier: no compile of these weights, calibration and compiler sources yet",
            f"{prefix}hil: suite_classifier: 2 layers captured; calibrating on 16 inputs",
            f"{prefix}hil: suite_classifier: compiled in * s, arena * B",
            f"{prefix}hil: firmware * model suite_classifier *",
        ]
    )
    if workers:
        assert sum("compiled in" in line for line in said.lines) == 1, said.str()
        assert sum(line.endswith("and building its firmware") for line in said.lines) == 2, said.str()


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one process", "two workers"])
def test_images_for_a_model_written_in_c_end_the_run_in_one_line(pytester, tmp_path, workers):
    """The default model is written in C and runs its own int8 arrays: --images without --model used to pass green
    without reading one picture. Now one line naming the model and what was expected, exit 4, nothing built."""
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    cv2.imwrite(str(pictures / "face.png"), np.zeros((32, 32), np.uint8))
    result = _suite(pytester, tmp_path / "out", "--images", str(pictures), *workers)
    assert result.ret == 4
    output = result.stdout.str() + result.stderr.str()
    message = f"--images {pictures}: model conv_test_model is written in C and runs its own int8 inputs, not pictures"
    assert output.count(message) == 1, output
    assert "hil: firmware" not in output and "Traceback" not in output


def test_two_models_in_one_run_number_their_own_inputs(pytester, tmp_path, nets):
    """Each model's progress counts its own inputs: the second model's first input was numbered after the first
    model's (input 3 of a model with two)."""
    models = f"{nets}:classifier,{nets}:bright"
    result = _suite(pytester, tmp_path / "out", "--model", models, "--hil-image-count", "2", "-k", "device_matches")
    result.assert_outcomes(passed=4, deselected=None)
    result.stdout.fnmatch_lines(
        [
            "*hil: suite_classifier: running input0 on the device (input 1 of 2)*",
            "*hil: suite_classifier: running input1 on the device (input 2 of 2)*",
            "*hil: suite_bright: running input0 on the device (input 1 of 2)*",
            "*hil: suite_bright: running input1 on the device (input 2 of 2)*",
        ]
    )


def test_a_folder_of_pictures_is_held_as_pixels_until_each_is_run(tmp_path, nets):
    """The suite reads every picture of --images before the first test: held as the model's float input too,
    WIDER FACE's 3,226 validation pictures would take 1.2 GB per worker for a face model. A picture holds its
    pixels at input size; its input is made from them when asked, the same as made at once."""
    from types import SimpleNamespace

    from hil.catalog import resolve_model
    from hil.catalog.preprocess import model_image, read_image
    from test_cases.conftest import model_inputs

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(7)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(images / name), rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))
    spec = resolve_model(f"{nets}:classifier")
    with pytest.warns(UserWarning, match="2 of 2 pictures differ from suite_classifier's input"):
        inputs = model_inputs(spec, SimpleNamespace(images=images, images_sample=None, truth=None))
    assert [given.name for given in inputs] == ["a.png", "b.jpg"]
    for given in inputs:
        assert given.array is None and given.pixels.dtype == np.uint8 and given.pixels.shape == (16, 16, 3)
        assert np.array_equal(given.x, model_image(spec, read_image(images / given.name)).x)


def test_a_sample_of_a_large_folder_runs_evenly_spaced_pictures(pytester, tmp_path, nets):
    """--hil-images-sample N runs N pictures spread through the folder's order (each class folder, not only the
    first), the same every night, and the run's metadata says it was a sample; a sample larger than the folder
    runs all of it."""
    images = tmp_path / "images"
    rng = np.random.default_rng(8)
    names = [f"{c}/{i}.png" for c in ("cat", "dog", "bird") for i in range(2)]
    for name in names:
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(images / name), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    args = ("--model", f"{nets}:classifier", "--images", str(images), "-k", "device_matches")
    result = _suite(pytester, tmp_path / "out", *args, "--hil-images-sample", "3")
    result.assert_outcomes(passed=3, deselected=None)
    ran = re.findall(r"^PASSED \S+::test_device_matches_reference_and_float\[(\S+)\]$", result.stdout.str(), re.M)
    assert sorted(ran) == ["bird/0.png", "cat/0.png", "dog/0.png"]
    metadata = json.loads((tmp_path / "out" / "results.json").read_text())["metadata"]
    assert metadata["images"] == f"{images} (sample of 3)"
    result = _suite(pytester, tmp_path / "out2", *args, "--hil-images-sample", "50")
    result.assert_outcomes(passed=6, deselected=None)
