"""Graph passes before quantisation: drop nodes nothing reads, join constant arithmetic to the table activation next
to it, fold zero padding into the convolution after it, run a BatchNorm or ReLU after a copying data move before the
move, fold BatchNorm into the convolution or Linear before it (any other BatchNorm becomes a table when it is one
constant scale and shift, else a 1x1 depthwise convolution), fuse ReLU/ReLU6 into the convolution, Linear or add
before it (as an activation attribute the quantiser turns into clamp bounds; an unfusable one becomes a table
activation), reorder a convolution's output channels instead of permuting them after it, and drop the flatten views
(an NHWC map already is its [B, H*W, C] rows, so concat_rows takes the maps themselves)."""

from __future__ import annotations

import copy

import numpy as np

from hil.compiler import activations
from hil.compiler.ir import Graph, Node, affine_params
from hil.errors import CompileError


def _only_consumer(graph: Graph, tensor: str, node: Node) -> bool:
    return tensor not in graph.outputs and graph.consumers(tensor) == [node]


def _rename_input(graph: Graph, old: str, new: str) -> None:
    for node in graph.nodes:
        node.inputs = [new if t == old else t for t in node.inputs]
    graph.outputs = [new if t == old else t for t in graph.outputs]


def _remove(graph: Graph, node: Node, replacement: str) -> None:
    """Takes node out of the graph, its readers and the graph's outputs reading replacement instead."""
    graph.nodes.remove(node)
    _rename_input(graph, node.output, replacement)
    del graph.tensors[node.output]


FOLDS_BATCHNORM = ("conv2d", "linear", "layer_norm")  # a LayerNorm's weight and bias per channel take the affine
FUSES_RELU = ("conv2d", "linear", "add")


def fold_zero_padding(graph: Graph) -> Graph:
    """zero_pad -> conv becomes one conv with more padding (the kernels read zeros outside the input anyway); a
    zero_pad anything else reads stays a data move."""
    for pad in [n for n in graph.nodes if n.op == "zero_pad"]:
        users = graph.consumers(pad.output)
        if pad.output in graph.outputs or not users or any(u.op != "conv2d" for u in users):
            continue
        a = pad.attrs
        for conv in users:
            begin = conv.attrs["padding"]
            end = conv.attrs.get("padding_end", begin)
            conv.attrs["padding"] = (begin[0] + a["top"], begin[1] + a["left"])
            conv.attrs["padding_end"] = (end[0] + a["bottom"], end[1] + a["right"])
        _remove(graph, pad, pad.inputs[0])
    return graph


# The data moves a per-channel op commutes with: move -> how many consecutive input channels each output channel
# copies (depth_to_space's channel c holds input channels c * block .. c * block + block - 1).
COMMUTES_PER_CHANNEL = {
    "depth_to_space": lambda move: move.attrs["factor"][0] * move.attrs["factor"][1],
    "upsample_nearest": lambda move: 1,
    "slice_pixels": lambda move: 1,
}
PER_CHANNEL = ("batchnorm", "relu", "relu6")


def hoist_per_channel_ops(graph: Graph) -> Graph:
    """A BatchNorm, ReLU or ReLU6 that alone reads a depth_to_space, nearest upsampling or pixel slice runs before the
    move, its parameters repeated per input channel: the move only copies values, so the result is the same, and the
    op then folds or fuses into the convolution before the move (a transposed convolution's BatchNorm and ReLU, a
    TCN's ReLU after its chomp) instead of running after it."""
    hoisted = True
    while hoisted:
        hoisted = False
        for op in [n for n in graph.nodes if n.op in PER_CHANNEL]:
            move = graph.producer(op.inputs[0])
            if move is None or move.op not in COMMUTES_PER_CHANNEL or not _only_consumer(graph, op.inputs[0], op):
                continue
            repeat = COMMUTES_PER_CHANNEL[move.op](move)
            op.params = {name: np.repeat(value, repeat) for name, value in op.params.items()}
            between = move.output
            graph.tensors[between].shape = graph.tensors[move.inputs[0]].shape
            op.inputs, op.output, move.inputs, move.output = move.inputs, between, [between], op.output
            i, j = graph.nodes.index(move), graph.nodes.index(op)
            graph.nodes[i], graph.nodes[j] = op, move
            hoisted = True
    return graph


ELEMENTWISE = ("activation", "relu", "relu6")


def _steps(node: Node) -> list[activations.FunctionStep]:
    return activations.steps_of(node.attrs) if node.op == "activation" else [(node.op, {})]


def _as_table(node: Node, steps: list[activations.FunctionStep]) -> None:
    function, attrs = activations.named(steps)
    node.op, node.attrs, node.params = "activation", {"function": function, **attrs}, {}


def compose_elementwise(graph: Graph) -> Graph:
    """Element-wise steps next to each other become one table, with one rounding instead of two: a constant scale
    and shift (a batchnorm the same for every channel: x / 6, x + 3, 1.702 * x) joins the scale and shift, table
    activation, ReLU or ReLU6 before it when it alone reads them, else the table activation after it when it cannot
    fold into the convolution before it; a table activation joins the one before it that it alone reads. So
    x * F.relu6(x + 3) / 6 is one hardswish table, not a table and a 1x1 depthwise convolution. A ReLU before a
    table stays, to fuse into its convolution and narrow the table's input."""
    joined = True
    while joined:
        joined = any(_join(graph, node) for node in list(graph.nodes))
    return graph


def _join(graph: Graph, node: Node) -> bool:
    """Joins node to the element-wise step next to it where compose_elementwise says; whether it did."""
    before = graph.producer(node.inputs[0]) if node.inputs else None
    alone = before is not None and _only_consumer(graph, node.inputs[0], node)
    if node.op == "activation" and alone and before.op == "activation":
        _as_table(before, [*_steps(before), *_steps(node)])
        _remove(graph, node, before.output)
        return True
    step = node.affine_step() if node.op == "batchnorm" else None
    if step is None:
        return False
    after = graph.consumers(node.output)
    if alone and before.op == "batchnorm" and before.affine_step() is not None:
        (_, first), (_, then) = before.affine_step(), step
        ones = np.ones(len(before.params["gamma"]))
        scale, offset = then["scale"] * first["scale"], then["scale"] * first["offset"] + then["offset"]
        before.attrs, before.params = {"eps": 0.0}, affine_params(scale * ones, offset * ones)
        _remove(graph, node, before.output)
    elif alone and before.op in ELEMENTWISE:
        _as_table(before, [*_steps(before), step])
        _remove(graph, node, before.output)
    elif len(after) == 1 and after[0].op == "activation" and not _folds(graph, node):
        if not _only_consumer(graph, node.output, after[0]):
            return False
        _as_table(after[0], [step, *_steps(after[0])])
        _remove(graph, node, node.inputs[0])
    else:
        return False
    return True


def _folds(graph: Graph, bn: Node) -> bool:
    """Whether bn folds into the convolution or Linear before it (or moves over the data move before it)."""
    producer = graph.producer(bn.inputs[0])
    return (
        producer is not None
        and producer.op in (*FOLDS_BATCHNORM, *COMMUTES_PER_CHANNEL)
        and "activation" not in producer.attrs
        and _only_consumer(graph, bn.inputs[0], bn)
    )


def _batchnorm_as_depthwise(bn: Node) -> None:
    """A BatchNorm nothing can absorb, as the per-channel affine map it is: a 1x1 depthwise convolution."""
    scale, shift = bn.scale_shift()
    bn.op = "conv2d"
    bn.attrs = {"stride": (1, 1), "padding": (0, 0), "groups": len(scale)}
    bn.params = {
        "weight": scale.reshape(-1, 1, 1, 1).astype(np.float32),
        "bias": shift.astype(np.float32),
    }


def fold_batchnorm(graph: Graph) -> Graph:
    """conv/linear -> batchnorm becomes one conv/linear with scaled weights and a shifted bias; a BatchNorm of a map
    after anything else becomes a 1x1 depthwise convolution."""
    for bn in [n for n in graph.nodes if n.op == "batchnorm"]:
        conv = graph.producer(bn.inputs[0])
        if (
            conv is None
            or conv.op not in FOLDS_BATCHNORM
            or "activation" in conv.attrs
            or not _only_consumer(graph, bn.inputs[0], bn)
        ):
            step = bn.affine_step()
            if step is not None:
                _as_table(bn, [step])
            elif len(graph.tensors[bn.output].shape) != 4:
                raise CompileError(
                    f"{bn.describe()}: a scale or shift per feature of rows (BatchNorm1d, or arithmetic with a "
                    "constant vector) must follow a Linear that nothing else reads"
                )
            else:
                _batchnorm_as_depthwise(bn)
            continue
        p = bn.params
        scale, _ = bn.scale_shift()
        weight = conv.params["weight"] * scale.reshape(-1, *(1,) * (conv.params["weight"].ndim - 1))
        bias = conv.params.get("bias", np.zeros_like(p["mean"]))
        conv.params = {
            "weight": weight.astype(np.float32),
            "bias": ((bias - p["mean"]) * scale + p["beta"]).astype(np.float32),
        }
        _remove(graph, bn, conv.output)
    return graph


def fuse_activations(graph: Graph) -> Graph:
    """relu/relu6 right after a convolution, Linear or add that nothing else reads become its activation attribute;
    any other becomes a table activation."""
    for act in [n for n in graph.nodes if n.op in ("relu", "relu6")]:
        conv = graph.producer(act.inputs[0])
        if (
            conv is None
            or conv.op not in FUSES_RELU
            or "activation" in conv.attrs
            or not _only_consumer(graph, act.inputs[0], act)
        ):
            act.attrs = {"function": act.op}
            act.op = "activation"
            continue
        conv.attrs["activation"] = act.op
        _remove(graph, act, conv.output)
    return graph


def fold_channel_permutation(graph: Graph) -> Graph:
    """A channel permutation right after a plain convolution (groups 1) that nothing else reads reorders that
    convolution's output channels instead: no copy at run time (ONNX's DepthToSpace in TensorFlow's order, a
    shuffle of one convolution's channels)."""
    for move in [n for n in graph.nodes if n.op == "permute_channels"]:
        conv = graph.producer(move.inputs[0])
        if conv is None or conv.op != "conv2d" or conv.attrs["groups"] != 1:
            continue
        if not _only_consumer(graph, move.inputs[0], move):
            continue
        order = list(move.attrs["order"])
        conv.params = {name: value[order] for name, value in conv.params.items()}
        _remove(graph, move, conv.output)
    return graph


def drop_unread(graph: Graph) -> Graph:
    """Removes nodes whose output nothing reads and no one asked for: the gate of a SiLU written x * sigmoid(x),
    which capture takes as one activation."""
    while True:
        unread = [n for n in graph.nodes if n.output not in graph.outputs and not graph.consumers(n.output)]
        if not unread:
            return graph
        for node in unread:
            graph.nodes.remove(node)
            del graph.tensors[node.output]


def merge_pixel_slices(graph: Graph) -> Graph:
    """A slice_pixels of a slice_pixels reads the first one's input, the two composed (ONNX writes x[..., ::2, ::2]
    as one Slice a axis); the first goes when nothing else reads it."""
    for node in graph.nodes:
        first = graph.producer(node.inputs[0]) if node.op == "slice_pixels" else None
        if first is None or first.op != "slice_pixels":
            continue
        (top, left), (step_h, step_w) = first.attrs["start"], first.attrs["step"]
        (top2, left2), (step_h2, step_w2) = node.attrs["start"], node.attrs["step"]
        node.attrs["start"] = (top + step_h * top2, left + step_w * left2)
        node.attrs["step"] = (step_h * step_h2, step_w * step_w2)
        node.inputs[0] = first.inputs[0]
    return drop_unread(graph)


def merge_row_concats(graph: Graph) -> Graph:
    """A concat_rows reading another's rows, which nothing else reads, reads that one's maps instead: concat_rows
    joins bytes, so the rows are the same (torch.cat of YOLO's per-scale anchor rows is one copy, not two)."""
    for node in [n for n in graph.nodes if n.op == "concat_rows"]:
        inputs = []
        for name in node.inputs:
            inner = graph.producer(name)
            joined = inner is not None and inner.op == "concat_rows" and _only_consumer(graph, name, node)
            inputs += inner.inputs if joined else [name]
        if inputs != node.inputs:
            node.attrs["columns"] = graph.tensors[node.output].shape[-1]
            node.inputs = inputs
    return drop_unread(graph)


def recurrent_final_states(graph: Graph) -> Graph:
    """A gru or lstm node read only by slices of its final frame (h_n[-1], out[:, -1] of a classifier) writes that
    frame alone (attrs last_only), which the slices then are: the kernel keeps its T frames out of the arena."""
    for rnn in [n for n in graph.nodes if n.op in ("gru", "lstm") and n.output not in graph.outputs]:
        b, _, steps, hidden = graph.tensors[rnn.output].shape
        final = {"start": (0, 0 if rnn.attrs["reverse"] else steps - 1), "step": (1, 1), "output_hw": (1, 1)}
        readers = graph.consumers(rnn.output)
        if not readers or any(r.op != "slice_pixels" or r.attrs != final for r in readers):
            continue
        rnn.attrs["last_only"] = True
        graph.tensors[rnn.output].shape = (b, 1, 1, hidden)
        for reader in readers:
            _remove(graph, reader, rnn.output)
    return graph


def drop_flatten(graph: Graph) -> Graph:
    """Removes flatten nodes that feed concat_rows only: concat_rows then reads the NHWC maps. A model output's
    (tokens or frames, as capture lays them out) stays."""
    for flat in [n for n in graph.nodes if n.op == "flatten"]:
        consumers = graph.consumers(flat.output)
        if flat.output in graph.outputs and not consumers:
            continue
        if flat.output in graph.outputs or any(c.op != "concat_rows" for c in consumers):
            raise CompileError(f"{flat.describe()}: a flattened map may only feed concat_rows")
        _remove(graph, flat, flat.inputs[0])
    return graph


def optimize(graph: Graph) -> Graph:
    """All passes, on a copy (the captured graph stays as it was)."""
    graph = copy.deepcopy(graph)
    passes = (
        drop_unread,
        compose_elementwise,
        fold_zero_padding,
        hoist_per_channel_ops,
        fold_batchnorm,
        fuse_activations,
        fold_channel_permutation,
        merge_pixel_slices,
        recurrent_final_states,
        drop_flatten,
        merge_row_concats,
    )
    for graph_pass in passes:
        graph = graph_pass(graph)
    graph.validate()
    return graph
