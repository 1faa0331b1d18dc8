"""Small hand-written models for tests that need a model to misbehave (fault, overflow, fail)."""

from __future__ import annotations

from pathlib import Path

from hil.model_sources import ModelSources, TensorSpec

TENSOR = TensorSpec("x", "int8", (16,), 1.0)


def write_model(directory: Path, name: str, run_body: str, arena_bytes: int = 32) -> ModelSources:
    """A model with one 16-byte input and output at offset 0 whose model_run is run_body."""
    directory.mkdir(parents=True)
    (directory / "model.h").write_text(f'#include "hil_model.h"\n#define MODEL_ARENA_BYTES {arena_bytes}u\n')
    (directory / "model.c").write_text(
        '#include "model.h"\n'
        'static const hil_tensor_info io[1] = {{"x", HIL_DTYPE_INT8, 1, {16}, 1.0f, 0, 0u}};\n'
        f'const hil_model_info model_info = {{"{name}", "{name}", MODEL_ARENA_BYTES, 1, io, 1, io}};\n'
        f"int32_t model_run(uint8_t *arena) {{ {run_body} }}\n"
    )
    return ModelSources(name, name, directory, (TENSOR,), (TENSOR,), arena_bytes)
