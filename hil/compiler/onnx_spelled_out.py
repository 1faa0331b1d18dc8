"""Activations exporters spell out in element-wise operators, found in an ONNX graph so the importer takes each as
the one table activation it is.

torch.onnx writes SiLU as x * Sigmoid(x) at every opset, Mish as x * Tanh(Softplus(x)), GELU below opset 20 as
Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5) (the tanh form with Pow or Mul chains), and HardSwish below opset 14 as
x * HardSigmoid(x). Capture takes a product only as x times an element-wise function of x, and has no Erf or Pow,
so GELU would fail at its Mul unless recognised here. Rather than one pattern per exporter and operand order, a
Mul's region is found by structure (the element-wise nodes between it and one input tensor, nothing outside reading
them) and named by value: the region is evaluated on probe inputs and compared with each activation's float
function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch.nn.functional as F

from hil.compiler.activations import FUNCTIONS, PROBE, FunctionStep, erf, name_of

# The element-wise operators a spelled-out activation is made of, as numpy (attrs, operands...).
ELEMENTWISE: dict[str, Callable] = {
    "Sigmoid": lambda a, x: FUNCTIONS["sigmoid"](x, a),
    "Tanh": lambda a, x: FUNCTIONS["tanh"](x, a),
    "Softplus": lambda a, x: np.logaddexp(0.0, x),
    "Erf": lambda a, x: erf(x),
    "HardSigmoid": lambda a, x: np.clip(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0.0, 1.0),
    "Add": lambda a, x, y: x + y,
    "Sub": lambda a, x, y: x - y,
    "Mul": lambda a, x, y: x * y,
    "Div": lambda a, x, y: x / y,
    "Pow": lambda a, x, y: x**y,
}

# The activations a region may compute (activations.NAMED's names) -> the torch function capture takes as its table.
TORCH_FUNCTIONS: dict[str, Callable] = {
    "silu": F.silu,
    "mish": F.mish,
    "gelu": F.gelu,
    "hardswish": F.hardswish,
    "layer_norm": lambda x, eps: F.layer_norm(x, (x.shape[-1],), eps=eps),
}
MAX_REGION = 16  # nodes: torch's GELU (tanh) is 8


@dataclass(frozen=True)
class SpelledOut:
    """One activation written out: the node indices it spans (root last), its input tensor, and the activation
    (function, attrs) it computes."""

    nodes: tuple[int, ...]
    source: str
    activation: FunctionStep

    @property
    def name(self) -> str:
        function, attrs = self.activation
        return " ".join([function, *(f"({v})" for v in attrs.values())])

    @property
    def function(self) -> Callable:
        function, attrs = self.activation
        return partial(TORCH_FUNCTIONS[function], **attrs)


def find_spelled_out(
    nodes: list, constants: dict[str, np.ndarray], outputs: list[str], attrs: Callable[[object], dict]
) -> list[SpelledOut]:
    """Every Mul that ends a spelled-out activation, with the nodes it spans; a Mul that ends none is left alone.
    attrs reads a node's attributes (the importer's, which imports onnx only when a file is read)."""
    producer = {out: i for i, node in enumerate(nodes) for out in node.output}
    readers: dict[str, set[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            readers.setdefault(name, set()).add(i)
    found, taken = [], set()
    for root, node in enumerate(nodes):
        if node.op_type != "Mul" or root in taken:
            continue
        for source in _upstream(nodes, producer, constants, root):
            region = _region(nodes, producer, constants, root, source)
            if region is None or not _closed(nodes, readers, outputs, region, root):
                continue
            activation = _name(nodes, constants, region, source, attrs)
            if activation is not None:
                found.append(SpelledOut(tuple(sorted(region)), source, activation))
                taken |= region
                break
    return found


def find_layer_norms(
    nodes: list, constants: dict[str, np.ndarray], outputs: list[str], attrs: Callable[[object], dict]
) -> list[SpelledOut]:
    """LayerNorm over the last axis as exporters write it below opset 17 (its weight and bias, a Mul and an Add
    after it, import as arithmetic): Div(d, Sqrt(Add(ReduceMean(Pow(d, 2)), eps))) with d = Sub(x, ReduceMean(x)),
    both means over axis -1 alone. The Div ends the region; nothing outside may read its inner tensors."""
    producer = {out: i for i, node in enumerate(nodes) for out in node.output}
    readers: dict[str, set[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            readers.setdefault(name, set()).add(i)

    def made_by(tensor: str, *op_types: str) -> int | None:
        index = producer.get(tensor)
        return index if index is not None and nodes[index].op_type in op_types else None

    def last_axis_mean(index: int | None) -> bool:
        return index is not None and list(attrs(nodes[index]).get("axes", [])) == [-1]

    found = []
    for root, node in enumerate(nodes):
        if node.op_type != "Div":
            continue
        sub, sqrt = made_by(node.input[0], "Sub"), made_by(node.input[1], "Sqrt")
        if sub is None or sqrt is None:
            continue
        x, mean_name = nodes[sub].input
        mean, add = made_by(mean_name, "ReduceMean"), made_by(nodes[sqrt].input[0], "Add")
        if not last_axis_mean(mean) or nodes[mean].input[0] != x or add is None:
            continue
        variance_name, eps_name = sorted(nodes[add].input, key=lambda n: n in constants)
        variance = made_by(variance_name, "ReduceMean")
        square = made_by(nodes[variance].input[0], "Pow", "Mul") if last_axis_mean(variance) else None
        if eps_name not in constants or square is None:
            continue
        operands = nodes[square].input
        squared = (nodes[square].op_type == "Mul" and list(operands) == [node.input[0]] * 2) or (
            operands[0] == node.input[0] and operands[1] in constants and float(constants[operands[1]]) == 2.0
        )
        region = {mean, sub, square, variance, add, sqrt, root}
        if squared and _closed(nodes, readers, outputs, region, root):
            eps = float(np.asarray(constants[eps_name]).reshape(-1)[0])
            found.append(SpelledOut(tuple(sorted(region)), x, ("layer_norm", {"eps": eps})))
    return found


def _upstream(nodes: list, producer: dict[str, int], constants: dict, root: int) -> list[str]:
    """The tensors above root through element-wise nodes, nearest first: the candidates for its one input."""
    seen, order, frontier = set(), [], [root]
    while frontier and len(seen) < MAX_REGION:
        index = frontier.pop(0)
        for name in nodes[index].input:
            if name in constants or name in seen or not name:
                continue
            seen.add(name)
            order.append(name)
            if name in producer and nodes[producer[name]].op_type in ELEMENTWISE:
                frontier.append(producer[name])
    return order


def _region(nodes: list, producer: dict[str, int], constants: dict, root: int, source: str) -> set[int] | None:
    """The nodes between source and root, if every path up from root ends at source or a constant."""
    region, frontier = set(), [root]
    while frontier:
        index = frontier.pop()
        if index in region:
            continue
        region.add(index)
        if nodes[index].op_type not in ELEMENTWISE or len(region) > MAX_REGION:
            return None
        for name in nodes[index].input:
            if name == source or name in constants:
                continue
            if name not in producer:
                return None
            frontier.append(producer[name])
    return region


def _closed(nodes: list, readers: dict[str, set[int]], outputs: list[str], region: set[int], root: int) -> bool:
    """Nothing outside the region reads what its inner nodes compute (else they must run anyway)."""
    inner = [out for i in region if i != root for out in nodes[i].output]
    return all(readers.get(t, set()) <= region and t not in outputs for t in inner)


def _name(nodes: list, constants: dict, region: set[int], source: str, attrs: Callable) -> FunctionStep | None:
    """The activation the region computes from source, by value on activations.PROBE; None for none of them (nor
    for a region with a constant of several values, such as a bias added per channel: no activation has one)."""
    if any(n in constants and constants[n].size != 1 for i in region for n in nodes[i].input):
        return None
    values = {source: PROBE}
    with np.errstate(all="ignore"):
        for index in sorted(region):
            node = nodes[index]
            operands = [values[n] if n in values else constants[n].astype(np.float64) for n in node.input]
            values[node.output[0]] = ELEMENTWISE[node.op_type](attrs(node), *operands)
        activation = name_of(values[nodes[max(region)].output[0]])
    return activation if activation is not None and activation[0] in TORCH_FUNCTIONS else None
