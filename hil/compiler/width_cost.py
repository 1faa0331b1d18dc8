"""The instructions int16 activations add to an inference, estimated from the graph: what lets the bit-width search
hold a latency budget (issue 12: "given a budget (RAM, and optionally latency)") without building and running
firmware for every candidate, as latency lookup tables let MCUNet's search do.

A convolution or linear layer whose input or output is int16 runs conv2d_a16 or fc_a16 instead of its int8 kernel.
The two rates below are measured on the face models under QEMU, per layer, the all-int8 build against the
catalog's (python -m hil.bench.profile --model m4|qvga, with the spec's bit_widths "int8" and "search"; 2026-12-05):
- an int16 input: the 1x1 expansion that reads RNNPool's int16 rows took 10.67 M instructions more for its 9.83 M
  MACs (conv2d_a16's SMLAxy taps against pointwise_conv2d_s8's SMLAD pairs): 1.08 per MAC;
- an int16 output of an int8 input: the detection heads (3x3, 2-4 output channels) took 51-66 instructions more per
  output value, whatever their MACs (conv2d_a16's per-pixel requantisation against conv2d_s8's): 55 per value.
Data moves copy twice the bytes at int16 (a few thousand instructions on the face models) and RNNPool's int16 store
costs what its int8 one did, so neither is counted; nor is a layer without an int16 kernel (a search told to weigh
widths the kernels lack). On both face models the estimate of the catalog's choices is
11.74 M instructions against 11.75 M measured. Other kernels' rates differ (a 3x3 convolution reading int16 has not
been measured), so a latency budget is a guide for the search; test_latency measures the firmware itself.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from hil.compiler.ir import Graph
from hil.compiler.qgraph import QGraph
from hil.compiler.quantize import has_wide_kernel

INT16_INPUT_PER_MAC = 1.08
INT16_OUTPUT_PER_VALUE = 55


def extra_instructions(graph: Graph, qgraph: QGraph, wide: Collection[str]) -> int:
    """Instructions per inference the tensors in wide at int16 add to the all-int8 model (qgraph: quantize's one
    QNode per IR node of graph, in order)."""
    total = 0.0
    for node, qnode in zip(graph.nodes, qgraph.nodes, strict=True):
        if not has_wide_kernel(node, graph):
            continue
        if any(t in wide for t in node.inputs):
            total += INT16_INPUT_PER_MAC * qnode.macs
        elif node.output in wide:
            total += INT16_OUTPUT_PER_VALUE * int(np.prod(qgraph.tensors[node.output].shape))
    return round(total)
