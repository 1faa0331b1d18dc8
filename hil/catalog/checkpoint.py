"""A model's architecture with weights from a checkpoint file the user names (`--checkpoint FILE`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hil.catalog.spec import ModelDecode, ModelSpec
from hil.errors import ModelSpecError


def load_checkpoint(model, path: Path, model_name: str):
    """model with path's state_dict loaded strictly (weights_only=True); one ModelSpecError line otherwise."""
    import torch

    from models.errors import StateDictMismatchError
    from models.state_dict import state_dict_mismatches, unwrap_state_dict

    if not path.is_file():
        raise ModelSpecError(f"--checkpoint {path}: no such file")
    if path.stat().st_size == 0:
        raise ModelSpecError(f"--checkpoint {path}: the file is empty; expected a PyTorch state_dict (torch.save)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load's own message runs over many lines about weights_only
        raise ModelSpecError(
            f"--checkpoint {path}: not a readable PyTorch checkpoint ({type(e).__name__}); expected a state_dict "
            "saved by torch.save"
        ) from e
    try:
        state = unwrap_state_dict(checkpoint)
    except TypeError as e:
        raise ModelSpecError(f"--checkpoint {path}: {e}") from e
    mismatches = state_dict_mismatches(model, state)
    if any(mismatches):
        raise ModelSpecError(f"--checkpoint {path}: {StateDictMismatchError(model_name, *mismatches).brief()}")
    model.load_state_dict(state, strict=True)
    return model.eval()


def with_checkpoint(spec: ModelSpec, path: Path) -> ModelSpec:
    """spec whose float model takes its weights from path (checked when the model is built)."""
    if spec.build is None:
        raise ModelSpecError(f"--checkpoint {path}: model {spec.name} is written in C and takes no weights")
    build = spec.build

    def build_with_weights():
        return load_checkpoint(build(), path, spec.name)

    decode = replace(spec.decode, build=build_with_weights) if isinstance(spec.decode, ModelDecode) else spec.decode
    return replace(spec, build=build_with_weights, decode=decode, origin=f"{spec.origin} + {path}")
