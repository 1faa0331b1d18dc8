"""The instructions int16 activations add to an inference, estimated from the graph: what lets the bit-width search
hold a latency budget (issue 12: "given a budget (RAM, and optionally latency)") without building and running
firmware for every candidate, as latency lookup tables let MCUNet's search do.

A convolution or linear layer with int16 on either side runs conv2d_a16, depthwise_conv2d_a16 or fully_connected_a16
instead of its int8 kernel: that costs more per output value (the requantisation of each value, where the int8 kernels
pair output channels), and, when the input is int16, more per MAC (conv2d_a16's SMLAxy taps against the int8
kernels' SMLAD pairs; fully_connected_a16's 64-bit sums). The rates are fitted to layers measured under QEMU, each
against the same layer in the all-int8 build (python -m hil.bench.profile --model m4|qvga [--bit-widths int8], per
layer, and the same profile of the models tests/compiler/test_width_cost.py builds; 2026-12-05):
- conv2d: the M4 (streamed) with mob.1's expanded map int16 (its 1x1 expansion writing int16 from int8: 76,800
  values), its depthwise output int16 (the projection reading it: 38,400 values, 2.46 M MACs), and RNNPool's output
  int16 (mob.0's expansion reading it: 153,600 values, 9.83 M MACs, 7.15 M instructions): 22 per value and 0.38 per
  MAC of an int16 input. Most int16 sums requantise in 32 bits (hil_a16_requantize32); a window of 256 or more int16
  values does in 64: 29 per value more, from the QVGA's mob.13 projection (256 int16 channels; without the term
  the QVGA's choices were estimated at 21.1 M and measured 22.7 M, with it 22.3 M), and 31 where test_width_cost
  steps a 1x1 projection from 255 to 256 int16 channels. Its convolution chain stays 12 % under (its last 3x3 reads
  288 int16 values a window);
- linear: the autoencoder example's layers (128 -> 8 .. 640 -> 128): 98 per value, 3.6 per MAC of an int16 input,
  within 8 %;
- depthwise: the same mob.1 with its expanded map, its depthwise output or both int16 (+2.04 M, +1.97 M, +3.81 M
  instructions over int8): 4 per value from either input width, the three builds within 6 % with the 1x1 stages at
  conv2d's rates. depthwise_conv2d_a16 runs the whole 3x3 windows unrolled as depthwise_conv2d_s8 does, and reads
  an int16 tap with fewer instructions than an int8 one (no sign extension of the input); without that run it took
  41 per value.
Data moves copy twice the bytes at int16 (a few thousand instructions on the face models) and RNNPool's int16 store
costs what its int8 one did, so neither is counted; nor is a layer without an int16 kernel (a search told to weigh
widths the kernels lack). tests/compiler/test_width_cost.py holds the estimate to what QEMU counts on models that
are not the face models; test_latency holds the firmware itself to its budget.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from hil.compiler.ir import Graph, Node
from hil.compiler.qgraph import QGraph
from hil.compiler.quantize import has_wide_kernel


@dataclass(frozen=True)
class Int16Rate:
    """Instructions an operator's int16 kernel adds over its int8 one: per output value, and per MAC more when
    its input is int16."""

    per_value: float
    per_int16_input_mac: float
    per_value_64bit: float = 0.0  # more per output value when an int16 window requantises in 64 bits


RATES = {"conv2d": Int16Rate(22, 0.38, 29), "depthwise": Int16Rate(4, 0.0), "linear": Int16Rate(98, 3.6)}
# HIL_A16_NARROW_S16_MAX_N in firmware/kernels/hil_kernels.h: an int16 window of more values (taps times input
# channels) requantises in 64 bits
NARROW_S16_MAX_N = 256


def _operator(node: Node) -> str:
    """The RATES entry of a node with an int16 kernel."""
    return "depthwise" if node.op == "conv2d" and node.attrs["groups"] > 1 else node.op


def extra_instructions(graph: Graph, qgraph: QGraph, wide: Collection[str]) -> int:
    """Instructions per inference the tensors in wide at int16 add to the all-int8 model (qgraph: quantize's one
    QNode per IR node of graph, in order)."""
    total = 0.0
    for node, qnode in zip(graph.nodes, qgraph.nodes, strict=True):
        wide_input = any(t in wide for t in node.inputs)
        if not has_wide_kernel(node, graph) or not (wide_input or node.output in wide):
            continue
        rate = RATES[_operator(node)]
        values = int(np.prod(qgraph.tensors[node.output].shape))
        total += rate.per_value * values
        if wide_input:
            total += rate.per_int16_input_mac * qnode.macs
            window = int(np.prod(node.params["weight"].shape[1:]))  # OIHW: input channels (a group's) times taps
            total += rate.per_value_64bit * values if window > NARROW_S16_MAX_N else 0
    return round(total)
