"""The compiler end to end: capture, passes, calibration, quantisation, schedule, memory plan, C."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hil.compiler import golden
from hil.compiler.calibrate import channel_ranges
from hil.compiler.capture import capture
from hil.compiler.centre import centre_channels
from hil.compiler.emit_c import EmittedModel, emit
from hil.compiler.ir import Graph
from hil.compiler.memory_plan import MemoryPlan, scheduled_plan
from hil.compiler.passes import optimize
from hil.compiler.qgraph import QGraph
from hil.compiler.quantize import quantize
from hil.compiler.schedule import Step


@dataclass
class CompiledModel:
    graph: Graph  # the optimised float IR, centred (centre.py): its tensors are the quantised graph's
    qgraph: QGraph
    steps: list[Step]
    memory: MemoryPlan
    emitted: EmittedModel

    def golden(self, x: np.ndarray) -> list[np.ndarray]:
        """The golden integer outputs for one float NHWC input."""
        return golden.outputs(self.qgraph, [self.qgraph.quantize_input(x)])


def compile_model(
    model: nn.Module,
    example: torch.Tensor,
    calibration: list[np.ndarray],
    directory: Path,
    name: str,
    output_names: list[str] | None = None,
) -> CompiledModel:
    """Compiles model (run once on example, [B, C, H, W]) calibrated on NHWC float inputs; C goes to directory."""
    graph = optimize(capture(model, example))
    graph, ranges = centre_channels(graph, channel_ranges(graph, calibration))
    qgraph = quantize(graph, ranges)
    steps, memory = scheduled_plan(qgraph)
    emitted = emit(qgraph, steps, memory, directory, name, ["input"], output_names)
    return CompiledModel(graph, qgraph, steps, memory, emitted)
