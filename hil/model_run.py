"""`hil run` for any model: one input on the device, its outputs checked against the host's exact computation
(the golden model of the compile, or a C model's own reference) and described by the model's task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hil.catalog import ModelSpec, compiled_model, model_sources
from hil.catalog.compile_cache import nhwc_inputs
from hil.catalog.preprocess import ModelImage, model_image, read_image
from hil.compiler.saturation import Saturation, saturated_tensors
from hil.errors import ModelSpecError
from hil.parity.tensor_metrics import dequantise


@dataclass(frozen=True)
class PreparedInput:
    """What the device is sent (exact integers) and what it must answer with."""

    device: list[np.ndarray]
    expected: list[np.ndarray]
    float_outputs: list[np.ndarray] | None  # in the device's layout
    saturated: list[Saturation]  # the compiled model's tensors at the ends of their range on it, the most first


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


def load_image_file(spec: ModelSpec, path: Path) -> ModelImage:
    """An image file as the model's input, converted (size, channels) as the model's spec says."""
    if spec.build is None:
        raise ModelSpecError(f"--image {path}: model {spec.name} is written in C and takes no image; use --input")
    if not path.is_file():
        raise ModelSpecError(f"--image {path}: no such file")
    return model_image(spec, read_image(path))


def float_outputs(model, x: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The float model's outputs for x (the model's own layout) in the device's layout, shapes the outputs' IR
    shapes (ir.to_graph_layout: images NHWC, sequences [B, 1, L, C])."""
    import torch

    from hil.compiler.ir import to_graph_layout

    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    arrays = [t.numpy() for t in (out if isinstance(out, tuple | list) else (out,))]
    return [to_graph_layout(a, shape) for a, shape in zip(arrays, shapes, strict=True)]


def prepare_input(spec: ModelSpec, x: np.ndarray | None, seed: int) -> PreparedInput:
    """The device input and expected outputs for x (the model's own layout), or for a seeded default input."""
    sources = model_sources(spec)
    if spec.build is None:
        tensor = sources.inputs[0]
        if x is None:
            x = np.random.default_rng(seed).integers(-128, 128, size=tensor.shape, dtype=np.int8)
        device = [np.asarray(x).astype(tensor.numpy_dtype).reshape(tensor.shape)]
        return PreparedInput(device, spec.reference(device), None, [])
    compiled = compiled_model(spec)
    if x is None:
        x = spec.calibration_inputs()[:1]
    nhwc = nhwc_inputs(np.asarray(x, np.float32))[0]
    tensors = compiled.golden_tensors(nhwc)
    return PreparedInput(
        [compiled.qgraph.quantize_input(nhwc)],
        compiled.outputs_of(tensors),
        float_outputs(spec.build(), x, compiled.output_shapes),
        saturated_tensors(compiled.qgraph, nhwc, tensors),
    )


def real_outputs(outputs: list[np.ndarray], infos) -> list[np.ndarray]:
    """The device's integer outputs as real values, each by its tensor's scale and zero point."""
    return [dequantise(o, info.scale, info.zero_point) for o, info in zip(outputs, infos, strict=True)]


def describe_outputs(spec: ModelSpec, real: list[np.ndarray], top: int = 5) -> dict:
    """What the outputs mean for the model's task: detections, top-k classes, or each tensor's range."""
    if spec.task == "detection" and spec.decode is not None:
        boxes, scores = spec.decode(real)
        kept = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= spec.min_score]
        return {
            "detections": [
                {"box": [round(float(v), 1) for v in boxes[i]], "score": round(float(scores[i]), 4)} for i in kept
            ]
        }
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


def draw_outputs(pixels: np.ndarray, meaning: dict, path: Path) -> None:
    """PNG of the picture the model saw, its detections boxed (or its top class written) on it."""
    import cv2

    canvas = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    scale = max(1, 480 // max(canvas.shape[:2]))
    canvas = cv2.resize(canvas, (canvas.shape[1] * scale, canvas.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    for row in meaning.get("detections", []):
        x1, y1, x2, y2 = (round(scale * v) for v in row["box"])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 0, 230), 1)
        cv2.putText(canvas, f"{row['score']:.2f}", (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 230))
    for rank, row in enumerate(meaning.get("top_k", [])[:3]):
        text = f"{row['label']} {row['score']:.2f}"
        cv2.putText(canvas, text, (4, 14 + 14 * rank), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 230), 1)
    if not cv2.imwrite(str(path), canvas):
        raise ModelSpecError(f"--draw {path}: could not write the picture there (expected a writable .png path)")
