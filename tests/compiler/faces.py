"""The face models compiled the way the compiler tests share them."""

from __future__ import annotations

import torch


def compile_faces(face_graphs: dict, calibration_inputs: list, root, suffix: str = "", **options) -> dict:
    """Both face models compiled into root (calibrated on two images; the third is held out), with options for
    compile_model."""
    from hil.compiler.pipeline import compile_model

    return {
        name: compile_model(
            model,
            torch.zeros(1, 1, 240, 320),
            calibration_inputs[:2],
            root / name,
            f"rnnpool_face_{name}{suffix}",
            ["loc", "conf"],
            **options,
        )
        for name, (model, _) in face_graphs.items()
    }
