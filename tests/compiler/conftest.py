"""Session fixtures: the face models captured and optimised once, and a few calibration images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hil.compiler.calibrate import synthetic_images
from hil.compiler.capture import capture
from hil.compiler.passes import optimize
from tests.compiler.faces import compile_faces


@pytest.fixture(scope="session")
def calibration_inputs() -> list[np.ndarray]:
    return synthetic_images(3)


@pytest.fixture(scope="session")
def face_graphs() -> dict:
    from models.registry import load_model

    graphs = {}
    for name in ("m4", "qvga"):
        model = load_model(name)
        graphs[name] = (model, optimize(capture(model, torch.zeros(1, 1, 240, 320))))
    return graphs


@pytest.fixture(scope="session")
def compiled_faces(face_graphs, calibration_inputs, tmp_path_factory) -> dict:
    """Both face models compiled once."""
    return compile_faces(face_graphs, calibration_inputs, tmp_path_factory.mktemp("face_c"))


@pytest.fixture(scope="module")
def m4(compiled_faces):
    """The compiled M4."""
    return compiled_faces["m4"]
