"""The compiler end to end: capture, passes, calibration, quantisation, schedule, memory plan, C."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hil.compiler import bit_widths as widths_search
from hil.compiler import exponent_search, golden
from hil.compiler.calibrate import channel_means, channel_ranges
from hil.compiler.capture import capture
from hil.compiler.centre import centre_channels
from hil.compiler.emit_c import EmittedModel, emit
from hil.compiler.ir import Graph
from hil.compiler.memory_plan import MemoryPlan, scheduled_plan
from hil.compiler.output_measures import measure_for
from hil.compiler.passes import optimize
from hil.compiler.progress import counted
from hil.compiler.qgraph import QGraph
from hil.compiler.quantize import can_widen, quantize
from hil.compiler.schedule import Step

LOG = logging.getLogger(__name__)


@dataclass
class CompiledModel:
    graph: Graph  # the optimised float IR, centred (centre.py): its tensors are the quantised graph's
    qgraph: QGraph
    steps: list[Step]
    memory: MemoryPlan
    emitted: EmittedModel
    bit_widths: widths_search.WidthSearch | None = None  # what --bit-widths search chose (None: all int8)
    exponents: exponent_search.ExponentSearch | None = None  # what the exponent search chose (None: calibrated)

    @property
    def bias_corrected(self) -> list[str]:
        """The layers whose biases quantize corrected (quantize.corrected_bias)."""
        return [node.name for node in self.qgraph.nodes if node.attrs.get("bias_corrected")]

    def golden_tensors(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every integer tensor of the golden model for one float NHWC input."""
        return golden.execute(self.qgraph, [self.qgraph.quantize_input(x)])

    def outputs_of(self, tensors: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The graph's outputs among golden_tensors' values."""
        return [tensors[t] for t in self.qgraph.outputs]

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        """The outputs' IR shapes, in order (what ir.to_graph_layout needs to lay a float output out alike)."""
        return [self.qgraph.tensors[t].shape for t in self.qgraph.outputs]

    def golden(self, x: np.ndarray) -> list[np.ndarray]:
        """The golden integer outputs for one float NHWC input."""
        return self.outputs_of(self.golden_tensors(x))


def captured_graph(model: nn.Module, example: torch.Tensor) -> Graph:
    """model's IR, optimised (fused and folded): a CompileError in one line for what the compiler cannot take."""
    return optimize(capture(model, example))


def compile_model(
    model: nn.Module | Graph,
    example: torch.Tensor,
    calibration: list[np.ndarray],
    directory: Path,
    name: str,
    output_names: list[str] | None = None,
    bit_widths: str = "int8",
    arena_budget: int | None = None,
    exponents: str = "calibrated",
    objective_outputs: list[str] | None = None,
    stream_input: bool = False,
    measure: str = "outputs",
    latency_budget: int | None = None,
) -> CompiledModel:
    """Compiles model (run once on example, [B, C, H, W]; or the graph captured_graph gave of it) calibrated on NHWC
    float inputs; C goes to directory.
    Both searches raise the mean of the SNRs of measure (output_measures): 'outputs', those of objective_outputs
    (default all outputs) over all their values; 'faces', a face detector's loc at its face anchors and its conf.
    exponents 'search' moves activations to finer exponents where the golden model's SNR rises (exponent_search);
    'calibrated' keeps each tensor's calibrated maximum. bit_widths 'search' widens to int16 the activations
    bit_widths.search picks within arena_budget bytes and latency_budget instructions per inference more than int8
    (its cost model's estimate; None: no limit), among those with int16 kernels (quantize.can_widen); 'int8' keeps
    every activation int8.
    stream_input: the model reads its input by rows (hil_input_read) into a row pipeline of its first layers
    (schedule.stream_front), so neither the input nor those layers' maps are held whole in the arena."""
    started = time.monotonic()
    graph = model if isinstance(model, Graph) else captured_graph(model, example)
    LOG.info("%s: %s captured; calibrating on %d inputs", name, counted(len(graph.nodes), "layer"), len(calibration))
    graph, ranges = centre_channels(graph, channel_ranges(graph, calibration))
    means = channel_means(graph, calibration)
    chosen_exponents = None
    snrs, objective = measure_for(measure, graph.outputs, output_names, objective_outputs)
    if exponents == "search":
        inputs = calibration[: exponent_search.SEARCH_IMAGES]
        LOG.info("%s: exponent search on %d inputs", name, len(inputs))
        ranges, chosen_exponents, means = exponent_search.search_exponents(
            graph, ranges, inputs, objective, snrs, means
        )
        LOG.info(
            "%s: %d exponents moved finer, mean SNR %.2f -> %.2f dB",
            name,
            len(chosen_exponents.choices),
            chosen_exponents.snr_db_calibrated,
            chosen_exponents.snr_db,
        )
    qgraph = quantize(graph, ranges, means=means)
    search = None
    if bit_widths == "search":
        inputs = calibration[: widths_search.SEARCH_IMAGES]
        budget = "no arena budget" if arena_budget is None else f"an arena budget of {arena_budget:,} B"
        LOG.info("%s: bit-width search on %d inputs within %s", name, len(inputs), budget)
        supported = lambda group: all(can_widen(graph, t) for t in group)  # noqa: E731
        search = widths_search.search(
            graph, qgraph, inputs, arena_budget, supported, stream_input, tuple(objective), snrs, latency_budget
        )
        wide = {t: 16 for choice in search.choices for t in choice.tensors}
        qgraph = quantize(graph, ranges, wide, means)
        search.applied = sorted(wide)
        LOG.info("%s: %s", name, search.reason)
    steps, memory = scheduled_plan(qgraph, stream_input=stream_input)
    if search is not None:
        search.planned_arena_bytes = memory.arena_bytes
    emitted = emit(qgraph, steps, memory, directory, name, ["input"], output_names)
    LOG.info("%s: compiled in %.0f s, arena %s B", name, time.monotonic() - started, f"{memory.arena_bytes:,}")
    return CompiledModel(graph, qgraph, steps, memory, emitted, search, chosen_exponents)
