"""Generated C compiled on the host (-Werror) equals the golden integer model bit for bit."""

from __future__ import annotations

import pytest

from hil.compiler.pipeline import compile_model
from tests.compiler.host_golden import assert_host_c_equals_golden
from tests.compiler.random_models import RandomModel


@pytest.mark.parametrize("seed", range(8))
def test_random_model_host_c_equals_golden(seed: int, tmp_path) -> None:
    model = RandomModel(seed)
    calibration = [model.example(i).permute(0, 2, 3, 1).numpy() for i in range(1, 4)]
    compiled = compile_model(model, model.example(), calibration, tmp_path / "c", f"random_{seed}")
    inputs = [model.example(i).permute(0, 2, 3, 1).numpy() for i in (7, 8)]
    assert_host_c_equals_golden(compiled, inputs, tmp_path / "host")


def test_face_models_host_c_equals_golden(compiled_faces, calibration_inputs, tmp_path) -> None:
    for name, compiled in compiled_faces.items():
        source = (compiled.emitted.sources.directory / "model.c").read_text()
        assert source.count("/* layer ") == len(compiled.steps)
        assert [s.shape for s in compiled.emitted.sources.outputs] == [(1, 3000, 4), (1, 3000, 2)]
        assert_host_c_equals_golden(compiled, calibration_inputs, tmp_path / name, name)
