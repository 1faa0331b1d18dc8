"""The instructions int16 activations add to an inference, estimated from the graph: what lets the bit-width search
hold a latency budget (issue 12: "given a budget (RAM, and optionally latency)") without building and running
firmware for every candidate, as latency lookup tables let MCUNet's search do.

A convolution, linear layer or residual add with int16 on either side runs conv2d_a16, depthwise_conv2d_a16,
fully_connected_a16 or add_a16 instead of its int8 kernel: that costs more per output value (the requantisation of
each value, where the int8 kernels pair output channels), and, when the input is int16, more or less per MAC
(conv2d_a16 reads a filter paired for an int16 input whose channels come in 4s with one SMLAD per two products and no
sign extension of the input, cheaper than the int8 kernels; other channel counts take SMLAxy taps;
fully_connected_a16's 64-bit sums). The rates are
fitted to layers measured under QEMU, each against the same layer in the all-int8 build (python -m hil.bench.profile
--model m4|qvga [--bit-widths int8], per layer, and the same profile of the models tests/compiler/test_width_cost.py
builds):
- conv2d (2026-12-06): 22 per value, -0.1 per MAC of an int16 input with channels in 4s. Per layer of the QVGA's
  choices the MAC rate is -0.11 (mob.0's expansion reading RNNPool's int16 output: 9.83 M MACs, +2.74 M with its
  other terms), -0.16 (mob.13's projection reading 256 int16 channels: 0.45 M fewer instructions than int8) and
  -0.23 (mob.4's projection); test_width_cost's MBConv block -0.14 and its convolution chain +0.06. At -0.1 the
  QVGA's choices are estimated 20 % over QEMU's count (6.88 M, 5.74 M), the M4's 5 % (4.83 M, 4.62 M), the block
  2 % over, the chain 20 % under.
  An int16 input whose channels do not come in 4s: 0.38 per MAC (fitted 2026-12-05 on the SMLAxy taps every
  int16 input took then). Most int16 sums requantise in 32 bits (hil_a16_requantize32); a window of more than 256
  int16 values does in 64: 29 per value more, from the QVGA's mob.13 projection before 256 values took 32 bits, and
  31 where test_width_cost steps a 1x1 projection from 256 to 257 int16 channels;
- linear: the autoencoder example's layers (128 -> 8 .. 640 -> 128): 98 per value, 3.6 per MAC of an int16 input,
  within 8 %;
- depthwise: the M4's mob.1 with its expanded map, its depthwise output or both int16 (+2.04 M, +1.97 M, +3.81 M
  instructions over int8, 2026-12-05): 4 per value from either input width, the three builds within 6 % with the 1x1
  stages at conv2d's rates then. depthwise_conv2d_a16 runs whole 3x3 windows unrolled and each window padding cuts
  at constant widths, and reads an int16 tap with fewer instructions than an int8 one; since the cut windows took
  that path (2026-12-06) the QVGA's mob.1 measures 24.9 per value for the conv and depthwise terms together (26
  estimated).
- add (2026-12-06): add_a16 takes 18 instructions per element at any widths, add_s8 17.5 (python -m
  hil.kernels_ref.bench_ipm --only add add_a16_8_16_8 add_a16_8_8_16 add_a16_16_16_16).
- int16 weights (2026-12-06): conv2d_a16_w16 against pointwise_conv2d_s8 on 1x1 layers of 64 -> 128 and 32 -> 64
  channels (python -m hil.kernels_ref.bench_ipm --only pointwise expand_32 expand_w16 expand_w16_8 expand_w16_32
  expand_w16_8_32): 2.89 / 2.76 instructions per MAC reading int16 / int8 where the int8 kernel takes 1.91, and
  4.02 / 3.91 where it takes 2.26. Mostly per output value (the 64-bit requantisation, a call per two channels): 51
  per value, and 0.18 (int16 input) or 0.05 (int8) per MAC, within 1 % of all four; in place of the conv2d terms
  above. The M4's mob.1 expansion with them measured 47 per value more than int8 in its fused block.
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
from hil.compiler.quantize import has_wide_kernel, weight_name
from hil.kernels_ref.conv_a16 import conv_a16_filter_paired


@dataclass(frozen=True)
class Int16Rate:
    """Instructions an operator's int16 kernel adds over its int8 one: per output value, and per MAC more when
    its input is int16 (unpaired: where those channels do not come in 4s, if that differs)."""

    per_value: float
    per_int16_input_mac: float
    per_value_64bit: float = 0.0  # more per output value when an int16 window requantises in 64 bits
    per_int16_input_mac_unpaired: float | None = None

    def per_mac(self, input_channels: int) -> float:
        """The rate per MAC of an int16 input of that many channels."""
        unpaired = not conv_a16_filter_paired(16, input_channels) and self.per_int16_input_mac_unpaired is not None
        return self.per_int16_input_mac_unpaired if unpaired else self.per_int16_input_mac


RATES = {
    "conv2d": Int16Rate(22, -0.1, 29, 0.38),
    "depthwise": Int16Rate(4, 0.0),
    "linear": Int16Rate(98, 3.6),
    "add": Int16Rate(0.5, 0.0),
}
# conv2d_a16_w16 over the int8 kernel: per output value, and per MAC by the input's width
INT16_WEIGHT_PER_VALUE = 51
INT16_WEIGHT_PER_MAC = {16: 0.18, 8: 0.05}
# HIL_A16_NARROW_S16_MAX_N in firmware/kernels/hil_kernels.h: an int16 window of more values (taps times input
# channels) requantises in 64 bits
NARROW_S16_MAX_N = 256


def _operator(node: Node) -> str:
    """The RATES entry of a node with an int16 kernel."""
    return "depthwise" if node.op == "conv2d" and node.attrs["groups"] > 1 else node.op


def extra_instructions(graph: Graph, qgraph: QGraph, wide: Collection[str]) -> int:
    """Instructions per inference the tensors (and layers' weights: quantize.weight_name) in wide at int16 add to the
    all-int8 model (qgraph: quantize's one QNode per IR node of graph, in order)."""
    total = 0.0
    for node, qnode in zip(graph.nodes, qgraph.nodes, strict=True):
        wide_input = any(t in wide for t in node.inputs)
        if weight_name(node.name) in wide:
            values = int(np.prod(qgraph.tensors[node.output].shape))
            total += INT16_WEIGHT_PER_VALUE * values + INT16_WEIGHT_PER_MAC[16 if wide_input else 8] * qnode.macs
            continue
        if not has_wide_kernel(node, graph) or not (wide_input or node.output in wide):
            continue
        rate = RATES[_operator(node)]
        values = int(np.prod(qgraph.tensors[node.output].shape))
        total += rate.per_value * values
        if wide_input and qnode.macs:  # a layer with weights (an add has no MACs, no window)
            total += rate.per_mac(graph.tensors[node.inputs[0]].shape[-1]) * qnode.macs
            window = int(np.prod(node.params["weight"].shape[1:]))  # OIHW: input channels (a group's) times taps
            total += rate.per_value_64bit * values if window > NARROW_S16_MAX_N else 0
    return round(total)
