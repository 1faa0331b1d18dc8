"""What the harness needs to know about a model: one `ModelSpec` per model, the one place that defines it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from torch import nn

    from hil.model_sources import ModelSources

Task = Literal["detection", "classification", "tensor"]
Resize = Literal["letterbox", "stretch"]


@dataclass(frozen=True)
class Budgets:
    """Limits a build or run of the model must meet; None leaves the board's own figure."""

    flash_bytes: int | None = None
    ram_bytes: int | None = None
    latency_instructions: int | None = None  # median instructions per inference under an emulator (test_latency)


@dataclass(frozen=True)
class ParityThresholds:
    """How close the device must come to the float model."""

    min_snr_db: float = 10.0
    min_recall: float = 0.9
    min_precision: float = 0.8
    ap_tolerance: float = 0.02
    min_top1_agreement: float = 0.9
    top1_tolerance: float = 0.02  # largest drop of the device's top-1 accuracy against truth below float's


@dataclass(frozen=True)
class ModelDecode:
    """A detector's decode that reads its float model, because what it needs travels with the weights (a face
    model's anchor sizes): decode(model, outputs) with the model build returns, built once. `--checkpoint` hands it
    the model with the user's weights (hil.catalog.checkpoint.with_checkpoint)."""

    decode: Callable[[nn.Module, list[np.ndarray]], tuple[np.ndarray, np.ndarray]]
    build: Callable[[], nn.Module]

    def __call__(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return self.decode(self.model, outputs)

    @functools.cached_property
    def model(self) -> nn.Module:
        return self.build()


@dataclass(frozen=True)
class ModelSpec:
    """A model the harness compiles, builds firmware around and tests.

    build: returns the float model (eval mode). input_shape: the example input, batch first, in the model's
    own layout (NCHW for images, (N, F) for vectors). calibration: returns `count` float inputs of
    input_shape[1:] stacked on a new first axis, in the model's own layout (None: seeded standard-normal data).
    A model written directly in C (no float model) has `build=None` and `sources`, which writes its C into a
    folder; `sources` set beside `build` replaces the compiler's C (a test's deliberately broken copy).
    `reference` computes such a model's exact integer outputs on the host.
    bit_widths, bit_width_arena_budget and bit_width_latency_budget: how the compiler chooses activation widths
    (compile_model).
    exponents: how it chooses activation exponents (hil.compiler.exponent_search). output_measure and
    objective_outputs: the SNRs both searches raise (an empty objective means every output).
    normalise: uint8 pixels at the input size (H x W grey, H x W x 3 RGB) to the float input without the batch
    axis (None: C x H x W scaled to [0, 1]). decode: a detection model's real-valued outputs (in the device's
    layout: NHWC for images) to (boxes [k, 4] x1 y1 x2 y2 in input pixels, scores [k]), a plain function or a
    ModelDecode; detections scoring min_score or more count.
    test_images: `count` labelled pictures (uint8 pixels, truth boxes [k, 4] or None) the suite runs when no
    --images are given; None: the suite runs `count` calibration inputs.
    """

    name: str
    build: Callable[[], nn.Module] | None
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
    aliases: tuple[str, ...] = ()
    sources: Callable[[Path], ModelSources] | None = None
    reference: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None
    origin: str = "catalog"
    normalise: Callable[[np.ndarray], np.ndarray] | None = None
    decode: Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray]] | None = None
    min_score: float = 0.5
    test_images: Callable[[int], list[tuple[np.ndarray, np.ndarray | None]]] | None = None
    # Activation widths (hil compile --bit-widths): "int8", or "search" within bit_width_arena_budget arena bytes.
    bit_widths: str = "int8"
    bit_width_arena_budget: int | None = None
    # Instructions per inference the search's int16 choices may add over int8, by its cost model (hil.compiler.
    # width_cost; hil compile --latency-budget); None: no limit.
    bit_width_latency_budget: int | None = None
    # Activation exponents (hil compile --exponents): "calibrated" (each tensor's calibrated max) or "search".
    exponents: str = "calibrated"
    # What both searches raise (hil compile --output-measure; hil.compiler.output_measures): "outputs", the SNRs of
    # objective_outputs (empty: every output), or "faces", a face detector's where its detections are read.
    output_measure: str = "outputs"
    objective_outputs: tuple[str, ...] = ()
    # The input read by rows as the first layers need them (hil compile --stream-input): hil_model.h's streamed
    # inputs, a row pipeline of the first layers in the arena instead of their whole maps.
    stream_input: bool = False

    @property
    def compiled_from_pytorch(self) -> bool:
        """True when the harness's compiler writes the model's C from the float model."""
        return self.build is not None and self.sources is None

    def calibration_inputs(self) -> np.ndarray:
        """The calibration set, in the model's own layout, checked against input_shape."""
        if self.calibration is None:
            rng = np.random.default_rng(0)
            return rng.standard_normal((self.calibration_count, *self.input_shape[1:])).astype(np.float32)
        data = np.asarray(self.calibration(self.calibration_count), dtype=np.float32)
        if data.ndim != len(self.input_shape) or tuple(data.shape[1:]) != tuple(self.input_shape[1:]):
            from hil.errors import ModelSpecError

            raise ModelSpecError(
                f"model {self.name}: calibration data has shape {tuple(data.shape)}, expected "
                f"(N, {', '.join(map(str, self.input_shape[1:]))}) like the input {self.input_shape}"
            )
        return data
