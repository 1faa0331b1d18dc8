"""Per-channel centring of tensors whose channels have large means and small spreads.

The face models' RNNPool output has per-channel means around 0.6 but spreads around 0.01: with one power-of-two
exponent per tensor, the int8 step (2^-7 for a range of 0.74) exceeds the spread and the information is lost
(the next 1x1 conv's BatchNorm, running_var ~1e-5, then amplifies the rounding noise). Instead the producer
outputs x - m (m per channel, on the producer's own fixed-point grid, so the C subtracts it exactly) at an
exponent fitted to max |x - m|, and every convolution reading it adds its response to m back through its bias,
exact algebra for a convolution without zero padding:

    conv(x)[o] = conv(x - m)[o] + sum_{ky, kx, i in group(o)} W[o, i, ky, kx] * m[i]

(with zero padding a border tap would read 0 where the fold assumes -m, so padded readers are refused).
Replicate padding commutes with subtracting a per-channel constant, so the offset may pass through pads.

The model input is centred the same way (centre_input) when that buys it a finer grid: the face models' input is a
grey pixel less 117.3, -117.3..137.7, which a symmetric int8 grid holds only at 2 per step, one camera bit lost;
as x - 11 it fits -128..127 at 1 per step. The host subtracts the offset before it quantises, and a reader padded
with zeros pads with -offset instead (conv2d_s8_w16's pad_value), which keeps the algebra above exact at borders.
"""

from __future__ import annotations

import copy

import numpy as np

from hil.compiler.calibrate import ChannelRange
from hil.compiler.ir import Graph, Node
from hil.compiler.quantize import fit_exponent, hidden_frac_bits, stem_can_pad_with, weight_bits


def _offset_grid(node: Node) -> int | None:
    """The exponent of the offsets a producer's kernel can subtract, None when it cannot (only rnnpool_offset_s8
    can: it subtracts an int16 offset in the Q format of its states)."""
    return -hidden_frac_bits(node, "rnn2") if node.op == "rnnpool" else None


def _padded(conv: Node) -> bool:
    return any(conv.attrs["padding"]) or any(conv.attrs.get("padding_end", (0, 0)))


def _readers(graph: Graph, tensor: str) -> tuple[list[str], list[Node]] | None:
    """The tensors that carry tensor's offset (itself and the replicate pads after it) and the unpadded convolutions
    that read them; None when anything else reads one of them (or one is a graph output)."""
    carried, convs, pending = [], [], [tensor]
    while pending:
        t = pending.pop()
        if t in graph.outputs:
            return None
        carried.append(t)
        for node in graph.consumers(t):
            if node.op == "pad":
                pending.append(node.output)
            elif node.op == "conv2d" and not _padded(node):
                convs.append(node)
            else:
                return None
    return carried, convs


def fold_offset(conv: Node, offset: np.ndarray) -> None:
    """Adds conv's response to a constant per-channel input offset to its bias (float64, before quantisation)."""
    weight = conv.params["weight"].astype(np.float64)  # OIHW
    cout, cin_g = weight.shape[:2]
    groups = conv.attrs["groups"]
    grouped = weight.reshape(groups, cout // groups, cin_g, -1)
    response = np.einsum("goik,gi->go", grouped, offset.reshape(groups, cin_g)).reshape(cout)
    conv.params["bias"] = conv.params.get("bias", np.zeros(cout)).astype(np.float64) + response


def _input_offset(graph: Graph, tensor: str, r: ChannelRange) -> float | None:
    """One offset for every channel of a model input, a multiple of the finest grid that holds x - offset in int8,
    when that grid is finer than x's own; None when it is not, or a reader cannot take the offset (every reader
    must be a convolution, and a padded one must pad with a value: the int16-weight stem, conv2d_s8_w16).
    A padded reader's pad, 0 - offset, must be an int8 on x - offset's grid too: an input in 0..1 that never
    reaches 0 would otherwise be centred on 129/256, 0 one step beyond the grid's -128."""
    readers = graph.consumers(tensor)
    takes = [n.op == "conv2d" and (not _padded(n) or weight_bits(n, graph) == 16) for n in readers]
    if not readers or not all(takes):
        return None
    padded = any(_padded(n) for n in readers)

    def holds(offset: float, e: int) -> bool:
        e_x = fit_exponent(r.extent(offset), 8)
        return e_x <= e and (not padded or stem_can_pad_with(-offset / 2.0**e_x))

    middle = (float(r.low.min()) + float(r.high.max())) / 2.0
    offset, e = None, fit_exponent(r.extent(), 8) - 1
    while True:
        nearest = np.round(middle / 2.0**e)
        steps = [m for m in (nearest, nearest + 1, nearest - 1) if m and holds(m * 2.0**e, e)]
        if not steps:
            return offset
        offset, e = steps[0] * 2.0**e, e - 1


def centre_input(graph: Graph, ranges: dict[str, ChannelRange], extent: dict[str, float]) -> None:
    """Centres each model input that _input_offset finds an offset for: the graph computes on x - offset (its
    Tensor.offset), its readers add their response to the offset through their bias and pad with -offset."""
    for name in graph.inputs:
        offset = _input_offset(graph, name, ranges[name])
        if offset is None:
            continue
        graph.tensors[name].offset = offset
        for conv in graph.consumers(name):
            fold_offset(conv, np.full(graph.tensors[name].shape[-1], offset))
            if _padded(conv):
                conv.attrs["pad_value"] = -offset
        extent[name] = ranges[name].extent(offset)


def centre_channels(graph: Graph, ranges: dict[str, ChannelRange]) -> tuple[Graph, dict[str, float]]:
    """A copy of graph with every centrable tensor centred where that gives it a finer int8 exponent, and the extent
    (ChannelRange.extent) of every tensor of the copy (centred tensors: of x - m) for quantize. The offset m is the
    midrange of each channel, which minimises max |x - m| and so the exponent."""
    graph = copy.deepcopy(graph)
    extent = {name: r.extent() for name, r in ranges.items()}
    centre_input(graph, ranges, extent)
    for node in graph.nodes:
        grid = _offset_grid(node)
        readers = _readers(graph, node.output) if grid is not None else None
        if readers is None:
            continue
        carried, convs = readers
        offset = np.round(ranges[node.output].midrange / 2.0**grid) * 2.0**grid
        centred = max(ranges[t].extent(offset) for t in carried)
        if fit_exponent(centred, 8) >= fit_exponent(max(extent[t] for t in carried), 8):
            continue
        node.params["offset"] = offset
        for conv in convs:
            fold_offset(conv, offset)
        for t in carried:
            extent[t] = ranges[t].extent(offset)
    return graph, extent
