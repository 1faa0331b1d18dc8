"""Loading EdgeML-named state_dicts (plain, DataParallel-prefixed, or EdgeML's {'weight': ..., 'epoch': ...})."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from models.errors import StateDictMismatchError


def unwrap_state_dict(checkpoint: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """The tensor mapping inside a checkpoint, without a ``module.`` (DataParallel) prefix."""
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"expected a state_dict mapping, got {type(checkpoint).__name__}")
    state = checkpoint["weight"] if "weight" in checkpoint and isinstance(checkpoint["weight"], Mapping) else checkpoint
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return dict(state)


def state_dict_mismatches(model: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[list, list, list]:
    """(missing keys, unexpected keys, 'key (given) != (expected)' shapes) of a state_dict against a model."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state) - set(getattr(model, "DEFAULTED_STATE", ())))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}"
        for key in set(state) & set(expected)
        if tuple(state[key].shape) != tuple(expected[key].shape)
    )
    return missing, unexpected, mismatched


def load_edgeml_state_dict(model: nn.Module, checkpoint: Mapping[str, object]) -> None:
    """Load strictly; on any missing/unexpected key or shape mismatch raise StateDictMismatchError listing them all."""
    state = unwrap_state_dict(checkpoint)
    missing, unexpected, mismatched = state_dict_mismatches(model, state)
    if missing or unexpected or mismatched:
        name = getattr(getattr(model, "config", None), "name", type(model).__name__)
        raise StateDictMismatchError(name, missing, unexpected, mismatched)
    model.load_state_dict(state, strict=True)
