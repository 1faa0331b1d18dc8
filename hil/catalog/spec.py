"""What the harness needs to know about a model: one `ModelSpec` per model, the one place that defines it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from torch import nn

Task = Literal["detection", "classification", "tensor"]
Resize = Literal["letterbox", "stretch"]


@dataclass(frozen=True)
class Budgets:
    """Limits a build or run of the model must meet; None leaves the board's own figure."""

    flash_bytes: int | None = None
    ram_bytes: int | None = None
    latency_instructions: int | None = None


@dataclass(frozen=True)
class ParityThresholds:
    """How close the device must come to the float model."""

    min_snr_db: float = 10.0
    min_recall: float = 0.9
    min_precision: float = 0.8
    ap_tolerance: float = 0.02
    min_top1_agreement: float = 0.9


@dataclass(frozen=True)
class ModelSpec:
    """A model the harness compiles, builds firmware around and tests.

    build: returns the float model (eval mode). input_shape: the example input, batch first, in the model's
    own layout (NCHW for images, (N, F) for vectors). calibration: returns `count` float inputs of
    input_shape[1:] stacked on a new first axis, in the model's own layout.
    """

    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    output_names: tuple[str, ...]
    task: Task = "tensor"
    calibration: Callable[[int], np.ndarray] | None = None
    calibration_count: int = 8
    resize: Resize = "letterbox"
    labels: tuple[str, ...] = ()
    budgets: Budgets = field(default_factory=Budgets)
    thresholds: ParityThresholds = field(default_factory=ParityThresholds)
    description: str = ""
