"""Models the harness can build firmware around, by name, and where their generated C goes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hil import conv_test_model, null_model
from hil.compiler import face_catalog
from hil.errors import HilError
from hil.model_sources import ModelSources

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATED_ROOT = REPO_ROOT / "build" / "model_c"

GENERATORS: dict[str, Callable[[Path], ModelSources]] = {
    conv_test_model.NAME: conv_test_model.emit,
    null_model.NAME: null_model.emit,
    "rnnpool_face_m4": face_catalog.emit_m4,
    "rnnpool_face_qvga": face_catalog.emit_qvga,
}


def model_sources(name: str, generated_root: Path = GENERATED_ROOT) -> ModelSources:
    """Writes (or refreshes) the C of a named model and describes it."""
    if name not in GENERATORS:
        raise HilError(f"no model named '{name}': expected one of {', '.join(sorted(GENERATORS))}")
    return GENERATORS[name](generated_root / name)
