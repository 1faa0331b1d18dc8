"""The face models as catalog generators: compiled from the committed checkpoints with a fixed calibration set
(the first images of the synthetic val split), cached in the output directory by a key of the checkpoint and of
every source that shapes the result: the compiler, the kernels' numpy twins and the models package (which builds
the graph and draws the calibration images)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hil.model_sources import ModelSources, TensorSpec

CALIBRATION_IMAGES = 4
COMPILER_DIR = Path(__file__).resolve().parent
KEYED_SOURCES = (
    COMPILER_DIR,
    COMPILER_DIR.parent / "kernels_ref",
    COMPILER_DIR.parents[1] / "models",
)
MANIFEST = "compiled.json"


def _key(checkpoint: Path) -> str:
    digest = hashlib.sha256(checkpoint.read_bytes())
    digest.update(f"synthetic val {CALIBRATION_IMAGES}".encode())
    for directory in KEYED_SOURCES:
        for source in sorted(directory.rglob("*.py")):
            digest.update(source.read_bytes())
    return digest.hexdigest()


def _cached(directory: Path, key: str) -> ModelSources | None:
    path = directory / MANIFEST
    if not path.is_file() or not (directory / "model.c").is_file():
        return None
    data = json.loads(path.read_text())
    if data["key"] != key:
        return None
    specs = {
        k: tuple(TensorSpec(s["name"], s["dtype"], tuple(s["shape"]), s["scale"]) for s in data[k])
        for k in ("inputs", "outputs")
    }
    return ModelSources(data["name"], data["hash"], directory, specs["inputs"], specs["outputs"], data["arena_bytes"])


def compile_face_model(registry_name: str, name: str, directory: Path) -> ModelSources:
    """The C of a face model in directory, compiled unless a cached compile of the same inputs is there."""
    import torch

    from hil.compiler.calibrate import synthetic_images
    from hil.compiler.pipeline import compile_model
    from models.registry import get_model_entry, load_model

    key = _key(get_model_entry(registry_name).checkpoint)
    cached = _cached(directory, key)
    if cached is not None:
        return cached
    compiled = compile_model(
        load_model(registry_name),
        torch.zeros(1, 1, 240, 320),
        synthetic_images(CALIBRATION_IMAGES),
        directory,
        name,
        ["loc", "conf"],
    )
    sources = compiled.emitted.sources
    manifest = {
        "key": key,
        "name": sources.name,
        "hash": sources.hash,
        "arena_bytes": sources.arena_bytes,
        **{
            k: [{"name": s.name, "dtype": s.dtype, "shape": list(s.shape), "scale": s.scale} for s in specs]
            for k, specs in (("inputs", sources.inputs), ("outputs", sources.outputs))
        },
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return sources


def emit_m4(directory: Path) -> ModelSources:
    """RNNPool_Face_M4 from models/checkpoints."""
    return compile_face_model("m4", "rnnpool_face_m4", directory)


def emit_qvga(directory: Path) -> ModelSources:
    """RNNPool_Face_QVGA_Monochrome from models/checkpoints."""
    return compile_face_model("qvga", "rnnpool_face_qvga", directory)
