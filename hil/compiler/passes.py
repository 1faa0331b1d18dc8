"""Graph passes before quantisation: fold BatchNorm into the convolution before it, fuse ReLU/ReLU6 into it
(as an activation attribute the quantiser turns into clamp bounds), and drop the flatten views (an NHWC map
already is its [B, H*W, C] rows, so concat_rows takes the maps themselves)."""

from __future__ import annotations

import copy

import numpy as np

from hil.compiler.ir import Graph, Node
from hil.errors import CompileError


def _only_consumer(graph: Graph, tensor: str, node: Node) -> bool:
    return tensor not in graph.outputs and graph.consumers(tensor) == [node]


def _rename_input(graph: Graph, old: str, new: str) -> None:
    for node in graph.nodes:
        node.inputs = [new if t == old else t for t in node.inputs]
    graph.outputs = [new if t == old else t for t in graph.outputs]


def fold_batchnorm(graph: Graph) -> Graph:
    """conv -> batchnorm becomes one conv with scaled weights and a shifted bias."""
    for bn in [n for n in graph.nodes if n.op == "batchnorm"]:
        conv = graph.producer(bn.inputs[0])
        if (
            conv is None
            or conv.op != "conv2d"
            or "activation" in conv.attrs
            or not _only_consumer(graph, bn.inputs[0], bn)
        ):
            raise CompileError(f"{bn.describe()}: BatchNorm must follow a convolution that nothing else reads")
        p = bn.params
        scale = p["gamma"] / np.sqrt(p["var"] + bn.attrs["eps"])
        weight = conv.params["weight"] * scale[:, None, None, None]
        bias = conv.params.get("bias", np.zeros_like(p["mean"]))
        conv.params = {
            "weight": weight.astype(np.float32),
            "bias": ((bias - p["mean"]) * scale + p["beta"]).astype(np.float32),
        }
        graph.nodes.remove(bn)
        _rename_input(graph, bn.output, conv.output)
        del graph.tensors[bn.output]
    return graph


def fuse_activations(graph: Graph) -> Graph:
    """relu/relu6 right after a convolution that nothing else reads become its activation attribute."""
    for act in [n for n in graph.nodes if n.op in ("relu", "relu6")]:
        conv = graph.producer(act.inputs[0])
        if (
            conv is None
            or conv.op != "conv2d"
            or "activation" in conv.attrs
            or not _only_consumer(graph, act.inputs[0], act)
        ):
            raise CompileError(f"{act.describe()}: ReLU must follow a convolution that nothing else reads")
        conv.attrs["activation"] = act.op
        graph.nodes.remove(act)
        _rename_input(graph, act.output, conv.output)
        del graph.tensors[act.output]
    return graph


def drop_flatten(graph: Graph) -> Graph:
    """Removes flatten nodes that feed concat_rows only: concat_rows then reads the NHWC maps."""
    for flat in [n for n in graph.nodes if n.op == "flatten"]:
        if flat.output in graph.outputs or any(c.op != "concat_rows" for c in graph.consumers(flat.output)):
            raise CompileError(f"{flat.describe()}: a flattened map may only feed concat_rows")
        graph.nodes.remove(flat)
        _rename_input(graph, flat.output, flat.inputs[0])
        del graph.tensors[flat.output]
    return graph


def optimize(graph: Graph) -> Graph:
    """All passes, on a copy (the captured graph stays as it was)."""
    graph = copy.deepcopy(graph)
    for graph_pass in (fold_batchnorm, fuse_activations, drop_flatten):
        graph = graph_pass(graph)
    graph.validate()
    return graph
