"""Groups the quantised nodes into the steps the generated C executes: one kernel call (or loop) per node,
except MBConv blocks (1x1 expand, depthwise, 1x1 project, optional residual add), which run fused and streamed
by output rows so their expanded map never exists whole. The integer arithmetic is the same as node by node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hil.compiler.qgraph import QGraph, QNode

ALIGN = 4


def align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Step:
    """kind 'node' (one QNode), 'mbconv' (expand, depthwise, project[, add]), 'rnnpool_pad' (RNNPool writing
    straight into the layout of the replicate pad after it) or 'l2norm_conv' (an L2Norm streamed by rows into one
    convolution reading it); scratch: byte sizes it needs."""

    kind: str
    nodes: list[QNode]
    inputs: list[str]
    output: str
    scratch: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.kind == "mbconv":
            return self.nodes[0].name.rsplit(".conv", 1)[0]
        return self.nodes[-1].name if self.kind == "l2norm_conv" else self.nodes[0].name


def _sole_consumer(graph: QGraph, tensor: str) -> QNode | None:
    users = [n for n in graph.nodes if tensor in n.inputs]
    return users[0] if len(users) == 1 and tensor not in graph.outputs else None


def _match_mbconv(graph: QGraph, expand: QNode) -> list[QNode] | None:
    if expand.kernel != "pointwise_conv2d_s8":
        return None
    depthwise = _sole_consumer(graph, expand.output)
    if depthwise is None or depthwise.kernel != "depthwise_conv2d_s8":
        return None
    project = _sole_consumer(graph, depthwise.output)
    if project is None or project.kernel != "pointwise_conv2d_s8":
        return None
    block = [expand, depthwise, project]
    add = _sole_consumer(graph, project.output)
    x = expand.inputs[0]
    if add is not None and add.kernel == "add_s8" and sorted(add.inputs) == sorted([x, project.output]):
        block.append(add)
    return block


def _match_rnnpool_pad(graph: QGraph, rnnpool: QNode) -> list[QNode] | None:
    """RNNPool and the replicate pad that only adds rows below and columns right of its output (the face models'
    fold-back pad): RNNPool can write its rows into the padded layout, and the pad fills its edges in place."""
    if rnnpool.kernel not in ("rnnpool_s8", "rnnpool_offset_s8"):
        return None
    pad = _sole_consumer(graph, rnnpool.output)
    if pad is None or pad.kernel != "pad" or pad.attrs["top"] != 0 or pad.attrs["left"] != 0:
        return None
    return [rnnpool, pad]


def _l2norm_consumers(graph: QGraph, norm: QNode) -> list[QNode] | None:
    """The int8 convolutions that are an L2Norm's only readers (the detection heads): each can take the normalised
    rows its window needs from a ring, so the normalised map never exists whole (each head normalises its own
    rows: L2Norm is cheap next to a head)."""
    if norm.kernel != "l2norm_s8" or norm.output in graph.outputs or graph.tensors[norm.output].shape[0] != 1:
        return None
    users = [n for n in graph.nodes if norm.output in n.inputs]
    if not users or any(n.kernel != "conv2d_s8" or n.inputs != [norm.output] for n in users):
        return None
    return users


def l2norm_conv_scratch(graph: QGraph, conv: QNode) -> dict[str, int]:
    """Bytes of the ring of normalised rows: kernel height rows of the L2Norm's output."""
    _, _, width, channels = graph.tensors[conv.inputs[0]].shape
    return {"rows": align(conv.arrays["filter"].shape[1] * width * channels)}


def mbconv_scratch(graph: QGraph, block: list[QNode]) -> dict[str, int]:
    """Bytes of the row ring (kernel-height expanded rows), the depthwise output row and (residual) the project row."""
    expand, depthwise, project = block[:3]
    _, _, width, hidden = graph.tensors[expand.output].shape
    _, _, out_w, out_c = graph.tensors[project.output].shape
    k_h = depthwise.arrays["filter"].shape[1]
    scratch = {"rows": align(k_h * width * hidden), "dw_row": align(out_w * hidden)}
    if len(block) == 4:
        scratch["project_row"] = align(out_w * out_c)
    return scratch


def schedule(graph: QGraph, fuse: bool = True, memory_order: bool = True) -> list[Step]:
    """The steps in execution order: memory_order reorders them (reorder), else they keep the captured order."""
    from hil.kernels_ref import rnnpool_get_buffer_size

    steps, taken = [], set()
    for node in graph.nodes:
        if id(node) in taken:
            continue
        block = _match_mbconv(graph, node) if fuse else None
        if block is not None:
            taken.update(id(n) for n in block)
            steps.append(Step("mbconv", block, [node.inputs[0]], block[-1].output, mbconv_scratch(graph, block)))
            continue
        heads = _l2norm_consumers(graph, node) if fuse else None
        if heads is not None:
            taken.update(id(n) for n in [node, *heads])
            steps += [
                Step("l2norm_conv", [node, conv], [node.inputs[0]], conv.output, l2norm_conv_scratch(graph, conv))
                for conv in heads
            ]
            continue
        scratch = {}
        if node.kernel in ("rnnpool_s8", "rnnpool_offset_s8"):
            size = rnnpool_get_buffer_size(node.params, node.attrs["rnn1"], node.attrs["rnn2"])
            scratch["rnnpool"] = align(size)
        padded = _match_rnnpool_pad(graph, node) if fuse else None
        if padded is not None:
            taken.update(id(n) for n in padded)
            steps.append(Step("rnnpool_pad", padded, list(node.inputs), padded[-1].output, scratch))
            continue
        steps.append(Step("node", [node], list(node.inputs), node.output, scratch))
    return reorder(graph, steps) if memory_order else steps


# Ready steps reorder tries ahead of each choice, one after another, before completing an order greedily.
LOOKAHEAD = 2


def reorder(graph: QGraph, steps: list[Step], score: Callable[[list[Step]], tuple] | None = None) -> list[Step]:
    """A memory-aware topological order: of the steps whose inputs are ready, run first the one that adds the
    fewest live bytes (its output minus the inputs it is the last reader of); ties keep the captured order. This
    runs each detection head as soon as its source exists, so the sources need not all be live at once.
    With score (the arena bytes of an order, then tie-breakers), each choice between several ready steps looks
    ahead instead: every sequence of LOOKAHEAD ready steps is completed greedily and the choice whose best
    completion scores least wins (ties go to the greedy choice)."""

    def best(prefix: list[Step], depth: int) -> tuple:
        candidates = _ready(graph, steps, prefix)
        if depth == 0 or not candidates:
            return score(_greedy(graph, steps, prefix))
        return min(best([*prefix, s], depth - 1) for s in candidates)

    order: list[Step] = []
    while len(order) < len(steps):
        candidates = _ready(graph, steps, order)
        choice = candidates[0]
        if score is not None and len(candidates) > 1:
            choice = min(candidates, key=lambda s: best([*order, s], LOOKAHEAD - 1))
        order.append(choice)
    return order


def _ready(graph: QGraph, steps: list[Step], done: list[Step]) -> list[Step]:
    """The steps not in done whose inputs are ready, the greedy choice first (see reorder)."""
    ready_tensors = set(graph.inputs) | {s.output for s in done}
    readers: dict[str, int] = {}
    pending = [s for s in steps if all(s is not d for d in done)]
    for step in pending:
        for t in set(step.inputs):
            readers[t] = readers.get(t, 0) + 1
    candidates = [s for s in pending if all(t in ready_tensors for t in s.inputs)]

    def growth(step: Step) -> int:
        freed = sum(
            graph.tensors[t].nbytes
            for t in set(step.inputs)
            if readers[t] == 1 and t not in graph.outputs and t not in graph.inputs
        )
        return graph.tensors[step.output].nbytes - freed

    return sorted(candidates, key=lambda s: (growth(s), pending.index(s)))


def _greedy(graph: QGraph, steps: list[Step], prefix: list[Step]) -> list[Step]:
    order = list(prefix)
    while len(order) < len(steps):
        order.append(_ready(graph, steps, order)[0])
    return order
