"""A model compiled with chosen tensors at int16 (what the bit-width search would choose), for the tests of the int16
kernels in the schedules that run them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hil.compiler.calibrate import profile
from hil.compiler.emit_c import emit
from hil.compiler.ir import Graph
from hil.compiler.memory_plan import scheduled_plan
from hil.compiler.pipeline import CompiledModel
from hil.compiler.quantize import quantize


def compiled_with(
    graph: Graph,
    calibration: list[np.ndarray],
    widened: list[str],
    directory: Path,
    stream_input: bool,
    fuse: bool = True,
) -> CompiledModel:
    """graph quantised with the tensors in widened at int16, scheduled, planned and emitted."""
    qgraph = quantize(graph, profile(graph, calibration), {t: 16 for t in widened})
    steps, memory = scheduled_plan(qgraph, fuse=fuse, stream_input=stream_input)
    emitted = emit(qgraph, steps, memory, directory, "widened", ["input"], None)
    return CompiledModel(graph, qgraph, steps, memory, emitted)
