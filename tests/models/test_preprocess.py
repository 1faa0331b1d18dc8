"""Preprocessing from file or array to the 320x240 grey model input, as EdgeML's eval does it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.errors import ModelInputError
from models.preprocess import GREY_MEAN, grey_batch_to_input, preprocess_image


def test_mean_colour_maps_to_zero_and_grey_matches_rgb() -> None:
    mean_rgb = np.empty((48, 64, 3), dtype=np.uint8)
    mean_rgb[...] = (123, 117, 104)
    assert preprocess_image(mean_rgb).abs().max().item() < 1e-4
    grey = np.random.default_rng(0).integers(0, 256, (240, 320), dtype=np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    torch.testing.assert_close(preprocess_image(grey), preprocess_image(rgb), atol=1e-3, rtol=0)
    torch.testing.assert_close(preprocess_image(grey), grey_batch_to_input(torch.from_numpy(grey)[None]))
    assert GREY_MEAN == pytest.approx(0.299 * 123 + 0.587 * 117 + 0.114 * 104)


def test_file_input_is_resized_to_320x240(tmp_path) -> None:
    path = tmp_path / "photo.png"
    image = np.zeros((100, 50, 3), dtype=np.uint8)
    image[:, :, 0] = 255
    Image.fromarray(image).save(path)
    x = preprocess_image(path)
    assert x.shape == (1, 1, 240, 320) and x.dtype == torch.float32
    assert x[0, 0, 120, 160].item() == pytest.approx(0.299 * (255 - 123) - 0.587 * 117 - 0.114 * 104, abs=1e-3)


@pytest.mark.parametrize(
    "bad, message",
    [
        ([[1, 2], [3, 4]], "numpy array"),
        (np.zeros((4, 4), dtype=np.float32), "uint8"),
        (np.zeros((4, 4, 2), dtype=np.uint8), "HxW grey or HxWx3"),
        ("/nonexistent/face.png", "not found"),
    ],
)
def test_bad_input_is_named(bad, message: str) -> None:
    with pytest.raises(ModelInputError, match=message):
        preprocess_image(bad)
