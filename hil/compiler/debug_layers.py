"""Where does generated C first leave the golden model? Every layer's output from a debug build of the C
(HostModel(debug_layers=True)) against the golden model's value of the same tensor, in execution order.
A streamed front (stream_input, schedule.stream_front) is one layer named by its stages (conv.0+rnn_model+mob.0):
the maps before its last stage's output never exist whole, so they are not dumped and not compared; a divergence
inside it is named by the front."""

from __future__ import annotations

import numpy as np

from hil.compiler import golden
from hil.compiler.host_model import HostModel
from hil.compiler.pipeline import CompiledModel
from hil.parity.divergence import Divergence, first_divergence


def reference_layers(compiled: CompiledModel, q: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(layer name, golden output) of every scheduled layer, for the quantised input q."""
    values = golden.execute(compiled.qgraph, [q])
    return [(step.name, values[step.output]) for step in compiled.steps]


def first_layer_divergence(compiled: CompiledModel, host: HostModel, x: np.ndarray) -> Divergence | None:
    """The first layer whose C output differs from the golden model on the float input x; None when all agree."""
    q = compiled.qgraph.quantize_input(x)
    reference = reference_layers(compiled, q)
    dumped = host.run_layers([q])
    device = [np.frombuffer(data, compiled.qgraph.tensors[compiled.steps[i].output].dtype) for i, _, data in dumped]
    return first_divergence(reference, device)
