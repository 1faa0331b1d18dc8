"""Model names -> constructors and committed checkpoints, so other code can say ``load_model("m4")``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from models.face_models import RNNPoolFaceDetector, rnnpool_face_m4, rnnpool_face_qvga_monochrome
from models.state_dict import load_edgeml_state_dict

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


@dataclass(frozen=True)
class RegisteredModel:
    """A named model: how to build it and where its trained weights and metrics live."""

    name: str
    build: Callable[[], RNNPoolFaceDetector]
    checkpoint: Path

    @property
    def metrics(self) -> Path:
        """The JSON written next to the checkpoint by ``python -m models.train``."""
        return self.checkpoint.with_suffix(".json")


MODELS: dict[str, RegisteredModel] = {
    "m4": RegisteredModel("m4", rnnpool_face_m4, CHECKPOINT_DIR / "rnnpool_face_m4.pt"),
    "qvga": RegisteredModel("qvga", rnnpool_face_qvga_monochrome, CHECKPOINT_DIR / "rnnpool_face_qvga_monochrome.pt"),
}


def get_model_entry(name: str) -> RegisteredModel:
    """The registry entry for ``name``."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name]


def load_model(name: str, pretrained: bool = True, checkpoint: str | Path | None = None) -> RNNPoolFaceDetector:
    """Build model ``name`` in eval mode, with the committed (or the given) checkpoint unless ``pretrained=False``."""
    entry = get_model_entry(name)
    model = entry.build()
    if pretrained or checkpoint is not None:
        path = Path(checkpoint) if checkpoint is not None else entry.checkpoint
        if not path.is_file():
            raise FileNotFoundError(
                f"no checkpoint for {name!r} at {path}; train one with `python -m models.train --model {name}`"
            )
        load_edgeml_state_dict(model, torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
