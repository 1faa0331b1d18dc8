"""`hil run` for any model: one input on the device, its outputs checked against the host's exact computation
(the golden model of the compile, or a C model's own reference) and described by the model's task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hil.catalog import ModelSpec, compiled_model, model_sources
from hil.catalog.compile_cache import nhwc_inputs
from hil.errors import ModelSpecError


@dataclass(frozen=True)
class PreparedInput:
    """What the device is sent (exact integers) and what it must answer with."""

    device: list[np.ndarray]
    expected: list[np.ndarray]
    float_outputs: list[np.ndarray] | None


def load_input_file(spec: ModelSpec, path: Path) -> np.ndarray:
    """A .npy input in the model's own layout, with or without the batch axis."""
    if path.suffix != ".npy":
        raise ModelSpecError(f"--input {path}: expected a .npy array file")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ModelSpecError(f"--input {path}: not a readable .npy file ({e})") from e
    if tuple(array.shape) == tuple(spec.input_shape[1:]):
        array = array[None]
    if tuple(array.shape) != tuple(spec.input_shape):
        raise ModelSpecError(f"--input {path}: shape {tuple(array.shape)}, expected {tuple(spec.input_shape)}")
    return array


def prepare_input(spec: ModelSpec, x: np.ndarray | None, seed: int) -> PreparedInput:
    """The device input and expected outputs for x (the model's own layout), or for a seeded default input."""
    import torch

    sources = model_sources(spec)
    if spec.build is None:
        tensor = sources.inputs[0]
        if x is None:
            x = np.random.default_rng(seed).integers(-128, 128, size=tensor.shape, dtype=np.int8)
        device = [np.asarray(x).astype(tensor.numpy_dtype).reshape(tensor.shape)]
        return PreparedInput(device, spec.reference(device), None)
    compiled = compiled_model(spec)
    if x is None:
        x = spec.calibration_inputs()[:1]
    nhwc = nhwc_inputs(np.asarray(x, np.float32))[0]
    with torch.no_grad():
        float_out = spec.build()(torch.from_numpy(np.asarray(x, np.float32)))
    float_outputs = [t.numpy() for t in (float_out if isinstance(float_out, tuple | list) else (float_out,))]
    return PreparedInput([compiled.qgraph.quantize_input(nhwc)], compiled.golden(nhwc), float_outputs)


def describe_outputs(spec: ModelSpec, outputs: list[np.ndarray], scales: list[float], top: int = 5) -> dict:
    """What the outputs mean for the model's task: top-k classes, or each tensor's range."""
    real = [o.astype(np.float64) * s for o, s in zip(outputs, scales, strict=True)]
    if spec.task == "classification":
        scores = real[0].reshape(-1)
        order = np.argsort(-scores, kind="stable")[:top]
        labels = spec.labels or tuple(str(i) for i in range(scores.size))
        return {"top_k": [{"class": int(i), "label": labels[i], "score": float(scores[i])} for i in order]}
    return {
        "tensors": [
            {"shape": list(r.shape), "min": float(r.min()), "max": float(r.max()), "mean": float(r.mean())}
            for r in real
        ]
    }
