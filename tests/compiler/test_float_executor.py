"""The passes keep the model's function: the float executor on the optimised IR equals PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hil.compiler.capture import capture
from hil.compiler.float_executor import outputs
from hil.compiler.passes import optimize
from tests.compiler.random_models import RandomModel


def _nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("seed", range(6))
def test_random_model_matches_torch(seed: int) -> None:
    model = RandomModel(seed)
    x = model.example()
    graph = optimize(capture(model, x))
    assert not any(n.op in ("batchnorm", "relu", "relu6", "flatten") for n in graph.nodes)
    with torch.no_grad():
        expected = model(x).numpy()
    (got,) = outputs(graph, [_nhwc(x)])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_face_models_match_torch(face_graphs, calibration_inputs) -> None:
    for name, (model, graph) in face_graphs.items():
        x = torch.from_numpy(calibration_inputs[0]).permute(0, 3, 1, 2)
        with torch.no_grad():
            expected = [t.numpy() for t in model(x)]
        got = outputs(graph, [calibration_inputs[0]])
        for e, g in zip(expected, got, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-3 * np.abs(e).max(), err_msg=name)
