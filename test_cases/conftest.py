"""What the user-facing suite needs beyond the plugin: the compiled model's integer reference, the float
model, the test images and the budgets, all for the model under test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from hil.catalog import ModelSpec, resolve_model
from hil.catalog import compiled_model as compiled_model_of
from hil.plugin.options import HilOptions, options_from_config

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class FaceImage:
    """A 320x240 grey test image, its face boxes in pixels (None when unknown), and its float input."""

    name: str
    grey: np.ndarray
    truth: np.ndarray | None
    x: np.ndarray  # preprocessed, NHWC float32 [1, 240, 320, 1]


def _image_files(options: HilOptions) -> list:
    files = sorted(p for p in options.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise pytest.UsageError(f"--images {options.images}: no {'/'.join(IMAGE_SUFFIXES)} images there")
    return files


def face_images(options: HilOptions) -> list[FaceImage]:
    """The synthetic test split's first images (with their boxes), or every image of --images."""
    import cv2
    import torch

    from models.data.synthetic import SyntheticFaceGenerator
    from models.preprocess import grey_batch_to_input, preprocess_image

    if options.images:
        return [
            FaceImage(
                path.stem,
                cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), (320, 240)),
                None,
                preprocess_image(path).permute(0, 2, 3, 1).numpy().astype(np.float32),
            )
            for path in _image_files(options)
        ]
    generator = SyntheticFaceGenerator()
    images = []
    for index in range(options.image_count):
        grey, boxes = generator.image("test", index)
        x = grey_batch_to_input(torch.from_numpy(grey[None])).permute(0, 2, 3, 1).numpy().astype(np.float32)
        images.append(FaceImage(f"synthetic-test-{index}", grey, boxes, x))
    return images


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "face_image" in metafunc.fixturenames:
        options = options_from_config(metafunc.config)
        count = len(_image_files(options)) if options.images else options.image_count
        metafunc.parametrize("face_image_index", range(count), ids=[f"image{i}" for i in range(count)])


@pytest.fixture(scope="session")
def all_face_images(hil_options: HilOptions) -> list[FaceImage]:
    return face_images(hil_options)


@pytest.fixture
def face_image(all_face_images: list[FaceImage], face_image_index: int) -> FaceImage:
    return all_face_images[face_image_index]


@pytest.fixture(scope="session")
def model_spec(hil_model_name: str) -> ModelSpec:
    """The catalog entry (or the user's spec) of the model under test."""
    return resolve_model(hil_model_name)


@pytest.fixture(scope="session")
def face_model_name(hil_model_name: str, model_spec: ModelSpec) -> str:
    if model_spec.task != "detection":
        pytest.skip(f"{hil_model_name} is not a detection model")
    return hil_model_name


@pytest.fixture(scope="session")
def float_model(face_model_name: str, model_spec: ModelSpec):
    """The float PyTorch model the device must reproduce."""
    return model_spec.build()


@pytest.fixture(scope="session")
def compiled_model(face_model_name: str, model_spec: ModelSpec, dut):
    """The compile the firmware was built from, with its bit-exact integer reference (the golden model)."""
    compiled = compiled_model_of(model_spec)
    if compiled.emitted.sources.hash != dut.info.model_hash:
        pytest.fail(
            f"the device runs model hash {dut.info.model_hash}, but compiling {face_model_name} now gives "
            f"{compiled.emitted.sources.hash}: the firmware is stale",
            pytrace=False,
        )
    return compiled


@pytest.fixture(scope="session")
def face_runs() -> dict:
    """(model, image) -> (truth, float detections, device detections), filled as the per-image tests run."""
    return {}


@pytest.fixture(scope="session")
def model_budgets(hil_options: HilOptions, hil_model_name: str, dut) -> tuple[int, int]:
    """(RAM, flash) bytes the model may use: the options, else the article's figures, else the board's."""
    budgets = resolve_model(hil_model_name).budgets
    ram = budgets.ram_bytes or dut.board.ram_budget
    flash = budgets.flash_bytes or dut.board.flash_budget
    return hil_options.ram_budget or ram, hil_options.flash_budget or flash
