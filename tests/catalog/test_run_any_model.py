"""`hil run` for a user's model on QEMU: the device's outputs equal the golden model's, and are described by the
model's task (top-k for a classifier, decoded detections for a detector), with latency and footprint."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hil.catalog import resolve_model
from hil.catalog.preprocess import model_image, read_image
from hil.cli import main
from hil.errors import ModelSpecError
from hil.exit_codes import USAGE_ERROR

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
        name="run_classifier",
        build=lambda: Classifier().eval(),
        input_shape=(1, 3, 16, 16),
        output_names=("scores",),
        task="classification",
        labels=("cat", "dog", "bird"),
        calibration=lambda n: np.random.default_rng(1).uniform(0, 1, (n, 3, 16, 16)).astype(np.float32),
    )


def sequence():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv1d(3, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(8, 4, 3)).eval()
    return ModelSpec(name="run_sequence", build=lambda: net, input_shape=(1, 3, 32), output_names=("labels",))


def unseeded():
    return ModelSpec(name="run_unseeded", build=lambda: nn.Conv2d(3, 4, 3).eval(), input_shape=(1, 3, 8, 8),
                     output_names=("out",))
"""


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run_nets") / "run_nets.py"
    path.write_text(NETS)
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, dict]:
    code = main(["run", "--emulate", "qemu", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_classifier_from_an_array_gives_top_k(nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(5).uniform(0, 1, (3, 16, 16)).astype(np.float32))
    code, result = _run(["--model", f"{nets}:classifier", "--input", str(x)], capsys)
    assert code == 0 and result["matches_reference"], result
    top = result["meaning"]["top_k"]
    assert [row["label"] for row in top] != [] and {row["label"] for row in top} == {"cat", "dog", "bird"}
    assert top[0]["score"] >= top[-1]["score"]
    assert result["float_meaning"]["top_k"][0]["label"] == top[0]["label"]
    assert result["timing"] and result["footprint"]["flash_bytes"] > 0


def test_an_input_beyond_the_calibration_names_what_saturates(
    nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Calibrated on [0, 1), the classifier gets an input of up to 4: its input and convolution saturate, the worst
    first, in the JSON and in the text."""
    x = tmp_path / "bright.npy"
    np.save(x, 4 * np.random.default_rng(5).uniform(0, 1, (3, 16, 16)).astype(np.float32))
    code, result = _run(["--model", f"{nets}:classifier", "--input", str(x)], capsys)
    assert code == 0 and result["matches_reference"], result
    saturated = result["saturated"]
    assert "input" in [row["layer"] for row in saturated], saturated
    fractions = [row["saturated"] / row["values"] for row in saturated]
    assert fractions == sorted(fractions, reverse=True) and fractions[0] > 0.25
    assert main(["run", "--emulate", "qemu", "--model", f"{nets}:classifier", "--input", str(x)]) == 0
    first = saturated[0]
    assert f"saturated: {first['layer']} ({first['tensor']}, int{first['bits']}) has {first['saturated']}" in (
        capsys.readouterr().out
    )


def test_an_image_is_letterboxed_and_drawn(nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    picture = tmp_path / "wide.png"
    cv2.imwrite(str(picture), np.random.default_rng(2).integers(0, 256, (20, 40, 3), dtype=np.uint8))
    drawing = tmp_path / "out.png"
    code, result = _run(["--model", f"{nets}:classifier", "--image", str(picture), "--draw", str(drawing)], capsys)
    assert code == 0 and result["matches_reference"]
    assert result["image"]["conversion"] == "letterboxed from 40x20 to 16x16 (aspect kept, padded)"
    assert cv2.imread(str(drawing)).shape[:2] == (480, 480)


def test_letterbox_keeps_the_aspect_and_stretch_does_not(nets: Path) -> None:
    spec = resolve_model(f"{nets}:classifier")
    tall = np.full((32, 8), 200, dtype=np.uint8)
    boxed = model_image(spec, tall)
    assert boxed.conversion == "grey copied to 3 channels, letterboxed from 8x32 to 16x16 (aspect kept, padded)"
    assert (boxed.pixels[:, 6:10] == 200).all() and (boxed.pixels[:, :6] == 114).all()
    assert boxed.x.shape == (1, 3, 16, 16) and boxed.x.max() == pytest.approx(200 / 255)
    from dataclasses import replace

    stretched = model_image(replace(spec, resize="stretch"), tall)
    assert (stretched.pixels == 200).all() and "stretched from 8x32 to 16x16" in stretched.conversion


@pytest.mark.parametrize("suffix", [".png", ".pgm"])
def test_a_16_bit_grey_picture_reads_as_its_8_bit_values(tmp_path: Path, suffix: str) -> None:
    """A 16-bit grey file (a PNG, a PGM) is scaled to 8 bits: Pillow's conversion clips at 255, which turned all
    but the darkest pixels white."""
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = tmp_path / f"wide{suffix}"
    cv2.imwrite(str(path), grey.astype(np.uint16) * 257)
    read = read_image(path)
    assert read.dtype == np.uint8 and (read == grey).all()


def test_a_photograph_stored_sideways_reads_upright(tmp_path: Path) -> None:
    """A phone stores a portrait photograph sideways with an EXIF orientation tag (6: turn 90 degrees clockwise);
    every viewer shows it upright, and so must the model see it."""
    from PIL import Image

    stored = np.zeros((20, 40), np.uint8)
    stored[:, :10] = 255  # the left of the stored pixels: the top once turned
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    path = tmp_path / "portrait.jpg"
    image.save(path, exif=exif)
    upright = read_image(path)
    assert upright.shape == (40, 20)
    assert upright[:8].mean() > 250 and upright[-28:].mean() < 5


def test_grey_values_beyond_16_bits_are_named(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "counts.tif"
    Image.fromarray(np.full((4, 4), 70_000, np.int32)).save(path)
    with pytest.raises(ModelSpecError, match=r"counts.tif: grey values 70000..70000; expected 8 or 16 bits"):
        read_image(path)


def test_a_face_picture_gives_detections(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The catalog's face detector on a synthetic test picture: its decoded boxes, the float model's beside them."""
    from models.data.synthetic import SyntheticFaceGenerator

    grey, truth = SyntheticFaceGenerator().image("test", 5)
    picture = tmp_path / "face.png"
    cv2.imwrite(str(picture), grey)
    code, result = _run(["--model", "rnnpool_face_m4", "--image", str(picture)], capsys)
    assert code == 0 and result["matches_reference"], result
    found = result["meaning"]["detections"]
    assert len(truth) == 2 and found and all(row["score"] >= 0.5 for row in found)
    best_device, best_float = found[0]["box"], result["float_meaning"]["detections"][0]["box"]
    assert np.abs(np.subtract(best_device, best_float)).max() <= 4, (best_device, best_float)
    assert result["image"]["conversion"] == "none"


def test_draw_needs_an_image(nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        main(["run", "--emulate", "qemu", "--model", f"{nets}:classifier", "--draw", str(tmp_path / "o.png")])
        == USAGE_ERROR
    )
    assert "needs the picture the model saw; give it with --image F" in capsys.readouterr().err


def test_a_factory_is_called_once_per_process(nets: Path) -> None:
    """The plugin's firmware and the suite's golden model must come from one model, even with random weights."""
    assert resolve_model(f"{nets}:classifier") is resolve_model(f"{nets}:classifier")


def test_a_sequence_model_runs_on_the_emulator(nets: Path, capsys: pytest.CaptureFixture) -> None:
    """A Conv1d model's [B, C, L] input and output (the map [B, 1, L, C] on the device): the device equals the
    golden model, and the output is described in the device's layout."""
    code, result = _run(["--model", f"{nets}:sequence"], capsys)
    assert code == 0 and result["matches_reference"], result
    assert result["device"]["inputs"][0]["shape"] == [1, 1, 32, 3]
    assert result["outputs"][0]["shape"] == [1, 1, 14, 4]


def test_a_spec_whose_build_makes_new_weights_each_call_is_built_once(
    nets: Path, capsys: pytest.CaptureFixture
) -> None:
    """`build=lambda: Net()` with random weights gives a new model at every call: the compile, the firmware and the
    golden model it is checked against must still be one model (before, the run's device output differed from
    its reference in almost every value)."""
    spec = resolve_model(f"{nets}:unseeded")
    assert spec.build() is spec.build()
    code, result = _run(["--model", f"{nets}:unseeded"], capsys)
    assert code == 0 and result["matches_reference"], result


def test_a_folder_of_pictures_calibrates_any_image_model(
    nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pictures = tmp_path / "calib"
    pictures.mkdir()
    for i, size in enumerate(((20, 40), (16, 16))):
        cv2.imwrite(str(pictures / f"{i}.png"), np.random.default_rng(i).integers(0, 256, (*size, 3), dtype=np.uint8))
    argv = ["compile", "--model", f"{nets}:classifier", "--calib", str(pictures), "-o", str(tmp_path / "c"), "--json"]
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["model"] == "run_classifier"
    (pictures / "0.png").unlink()
    (pictures / "1.png").unlink()
    assert main(argv) == USAGE_ERROR
    assert "--calib" in json.loads(capsys.readouterr().out)["error"]
