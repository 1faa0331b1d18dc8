"""Groups the quantised nodes into the steps the generated C executes: one kernel call (or loop) per node,
except MBConv blocks (1x1 expand, depthwise, 1x1 project, optional residual add), which run fused and streamed
by output rows so their expanded map never exists whole. With stream_input, the first steps become one row
pipeline (stream_front): the input is read by rows as they are needed, and no map before the pipeline's last
output exists whole. The integer arithmetic is the same as node by node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hil.compiler.qgraph import DEPTHWISE_KERNELS, QGraph, QNode, is_pointwise
from hil.errors import CompileError
from hil.kernels_ref.gru import gru_buffer_size
from hil.kernels_ref.lstm import lstm_buffer_size

ALIGN = 4


def align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Step:
    """kind 'node' (one QNode), 'mbconv' (expand, depthwise, project[, add]), 'rnnpool_pad' (RNNPool writing
    straight into the layout of the replicate pad after it), 'l2norm_conv' (an L2Norm streamed by rows into one
    convolution reading it) or 'front' (parts: steps run as one row pipeline from a streamed model input, see
    stream_front); scratch: byte sizes it needs."""

    kind: str
    nodes: list[QNode]
    inputs: list[str]
    output: str
    scratch: dict[str, int] = field(default_factory=dict)
    parts: list[Step] = field(default_factory=list)
    # front: (rows, bytes per row) of each row window: the input's, then each part's but the last (whole)
    windows: list[tuple[int, int]] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.kind == "front":
            return "+".join(p.name for p in self.parts)
        if self.kind == "mbconv":
            return self.nodes[0].name.rsplit(".conv", 1)[0]
        return self.nodes[-1].name if self.kind == "l2norm_conv" else self.nodes[0].name


def _sole_consumer(graph: QGraph, tensor: str) -> QNode | None:
    users = [n for n in graph.nodes if tensor in n.inputs]
    return users[0] if len(users) == 1 and tensor not in graph.outputs else None


def _pointwise(graph: QGraph, node: QNode) -> bool:
    """A 1x1 convolution: pointwise_conv2d_s8, or conv2d_a16(_w16) where the bit-width search widened its input,
    output or weights."""
    if node.kernel == "pointwise_conv2d_s8":
        return True
    if node.kernel not in ("conv2d_a16", "conv2d_a16_w16"):
        return False
    p, (_, kh, kw, _) = node.params, node.arrays["filter"].shape
    shapes = graph.tensors[node.inputs[0]].shape, graph.tensors[node.output].shape
    return is_pointwise((kh, kw), (p.stride_h, p.stride_w), (p.pad_h, p.pad_w), *shapes)


def _match_mbconv(graph: QGraph, expand: QNode) -> list[QNode] | None:
    """1x1 expand, depthwise, 1x1 project (each at any widths: gen_mbconv_rows_s8 holds int16 rows), and the
    residual add of the block's input when one follows."""
    if not _pointwise(graph, expand):
        return None
    depthwise = _sole_consumer(graph, expand.output)
    if depthwise is None or depthwise.kernel not in DEPTHWISE_KERNELS:
        return None
    project = _sole_consumer(graph, depthwise.output)
    if project is None or not _pointwise(graph, project):
        return None
    block = [expand, depthwise, project]
    add = _sole_consumer(graph, project.output)
    x = expand.inputs[0]
    if add is not None and add.kernel in ("add_s8", "add_a16") and sorted(add.inputs) == sorted([x, project.output]):
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
    """The convolutions that are an L2Norm's only readers (the detection heads; int8 out, or int16 where the
    bit-width search widened a head's scores): each can take the normalised rows its window needs from a ring, so
    the normalised map never exists whole (each head normalises its own rows: L2Norm is cheap next to a head)."""
    if norm.kernel != "l2norm_s8" or norm.output in graph.outputs or graph.tensors[norm.output].shape[0] != 1:
        return None
    users = [n for n in graph.nodes if norm.output in n.inputs]
    if not users or any(n.kernel not in ("conv2d_s8", "conv2d_a16") or n.inputs != [norm.output] for n in users):
        return None
    return users


def l2norm_conv_scratch(graph: QGraph, conv: QNode) -> dict[str, int]:
    """Bytes of the ring of normalised rows: kernel height rows of the L2Norm's output."""
    _, _, width, channels = graph.tensors[conv.inputs[0]].shape
    return {"rows": align(conv.arrays["filter"].shape[1] * width * channels)}


def mbconv_scratch(graph: QGraph, block: list[QNode]) -> dict[str, int]:
    """Bytes of the row ring (kernel-height expanded rows), the depthwise output row and (residual) the project row,
    each at its tensor's width."""
    expand, depthwise, project = block[:3]
    k_h = depthwise.arrays["filter"].shape[1]
    scratch = {"rows": align(k_h * _rows(graph, expand.output)[1]), "dw_row": align(_rows(graph, depthwise.output)[1])}
    if len(block) == 4:
        scratch["project_row"] = align(_rows(graph, project.output)[1])
    return scratch


RECURRENT_BUFFER_SIZES = {"gru_s8": gru_buffer_size, "lstm_s8": lstm_buffer_size}  # kernel -> its scratch bytes


def schedule(graph: QGraph, fuse: bool = True, memory_order: bool = True, stream_input: bool = False) -> list[Step]:
    """The steps in execution order: memory_order reorders them (reorder), else they keep the captured order.
    stream_input runs the first steps as one row pipeline reading the input as it goes (stream_front)."""
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
        if node.kernel in RECURRENT_BUFFER_SIZES:
            scratch["recurrent"] = align(RECURRENT_BUFFER_SIZES[node.kernel](node.attrs["weights"]))
        padded = _match_rnnpool_pad(graph, node) if fuse else None
        if padded is not None:
            taken.update(id(n) for n in padded)
            steps.append(Step("rnnpool_pad", padded, list(node.inputs), padded[-1].output, scratch))
            continue
        steps.append(Step("node", [node], list(node.inputs), node.output, scratch))
    if stream_input:
        steps = stream_front(graph, steps)
    return reorder(graph, steps) if memory_order else steps


# ---- the streamed front ------------------------------------------------------------------------------------------
# A row pipeline from the model's input: each stage computes its output rows in order, asking the stage before for
# the band of rows each one reads. A stage keeps the rows its reader still needs in a window (the input's rows too,
# read through hil_input_read), so only the last stage's output exists whole. The stages: a convolution
# (conv2d_s8, conv2d_s8_w16; a band of kernel-height rows, the kernel's own top/bottom padding), RNNPool (a band
# of patch rows per output row; with the replicate pad after it, rows written into the padded layout) and, last,
# an MBConv block without residual (each expanded row pulled from the stage before).

FRONT_CONVS = ("conv2d_s8", "conv2d_s8_w16")
RNNPOOLS = ("rnnpool_s8", "rnnpool_offset_s8")


def front_stage(step: Step) -> str | None:
    """'conv', 'rnnpool' or 'mbconv' for a step a streamed front can run, else None."""
    node = step.nodes[0]
    if step.kind == "node" and node.kernel in FRONT_CONVS:
        return "conv"
    if step.kind == "rnnpool_pad" or (step.kind == "node" and node.kernel in RNNPOOLS):
        return "rnnpool"
    if step.kind == "mbconv" and len(step.nodes) == 3:
        return "mbconv"
    return None


def _rows(graph: QGraph, tensor: str) -> tuple[int, int]:
    """(rows, bytes per row) of an NHWC map."""
    _, h, w, c = graph.tensors[tensor].shape
    return h, w * c * graph.tensors[tensor].nbytes // max(1, int(h * w * c))


def real_rows(graph: QGraph, step: Step) -> int:
    """Rows a stage computes (an RNNPool writing into its pad's layout: its own rows; the pad's below copy the
    last)."""
    return graph.tensors[step.nodes[0].output].shape[1] if step.kind == "rnnpool_pad" else _rows(graph, step.output)[0]


def pad_rows_below(graph: QGraph, step: Step) -> int:
    """Rows of a replicate pad below an RNNPool's map, written into the pad's layout (0 for another stage)."""
    return _rows(graph, step.output)[0] - real_rows(graph, step) if step.kind == "rnnpool_pad" else 0


def front_requests(graph: QGraph, step: Step) -> list[tuple[int, int]]:
    """The bands [lo, hi) of input rows a stage asks for, in order (the generated C asks the same)."""
    height = _rows(graph, step.inputs[0])[0]
    stage, node = front_stage(step), step.nodes[0]
    if stage == "conv":
        k, stride, pad = node.arrays["filter"].shape[1], node.params.stride_h, node.params.pad_h
        tops = [y * stride - pad for y in range(_rows(graph, step.output)[0])]
        return [(max(0, t), min(t + k, height)) for t in tops]
    if stage == "rnnpool":
        stride, patch = node.attrs["stride"], node.params.patch_h
        return [(y * stride, y * stride + patch) for y in range(real_rows(graph, step))]
    # gen_mbconv_rows_s8 expands each input row once, when the depthwise window first reaches it
    depthwise = step.nodes[1]
    k, stride, pad = depthwise.arrays["filter"].shape[1], depthwise.params.stride_h, depthwise.params.pad_h
    requests, next_row = [], 0
    for y in range(_rows(graph, step.output)[0]):
        lo, hi = max(0, y * stride - pad), min(y * stride - pad + k, height)
        next_row = max(next_row, lo)
        requests += [(r, r + 1) for r in range(next_row, hi)]
        next_row = max(next_row, hi)
    return requests


def window_rows(requests: list[tuple[int, int]], rows: int, keep_last: int | None = None) -> int:
    """The rows a window must hold to serve requests as the generated C does (gen_window: rows below a request's
    lo are dropped, then rows are made up to its hi); keep_last: the row a replicate pad's rows below copy, kept
    until they are made."""
    first = next_row = held = 0
    for lo, hi in requests:
        if hi > rows or lo < 0 or lo > hi:
            raise CompileError(f"rows {lo}..{hi} asked of a map of {rows} rows")
        keep = min(lo, keep_last) if keep_last is not None and hi > keep_last + 1 else lo
        if keep > first:
            first = keep if next_row > keep else next_row
        while next_row < hi:
            held = max(held, next_row - first + 1)
            next_row += 1
            first = next_row if next_row <= keep else first
    return held


def stream_front(graph: QGraph, steps: list[Step]) -> list[Step]:
    """steps with the row pipeline from the model's input (see above) as one 'front' step in place of its parts: the
    longest chain of stages, each its predecessor's only reader; a CompileError in one line when the input's
    first reader cannot be streamed."""
    from hil.kernels_ref import rnnpool_get_buffer_size

    if len(graph.inputs) != 1:
        raise CompileError(f"stream_input: the model has {len(graph.inputs)} inputs; a streamed front takes one")
    x = graph.inputs[0]
    spec = graph.tensors[x]
    readers = [s for s in steps if x in s.inputs]
    first = readers[0] if readers else None
    if len(spec.shape) != 4 or spec.shape[0] != 1 or spec.dtype != "int8":
        raise CompileError(
            f"stream_input: input {list(spec.shape)} {spec.dtype} cannot be streamed by rows; expected one int8 "
            "NHWC image (batch 1)"
        )
    what = ", ".join(f"{s.name} ({s.nodes[0].kernel if s.kind == 'node' else s.kind})" for s in readers)
    if len(readers) != 1 or first.inputs != [x] or front_stage(first) in (None, "mbconv"):
        raise CompileError(
            f"stream_input: the first layer cannot be streamed by rows: the input is read by {what or 'nothing'}; "
            f"expected one {'/'.join(FRONT_CONVS)} or RNNPool layer reading it alone"
        )
    try:
        window_rows(front_requests(graph, first), spec.shape[1])
    except CompileError as e:
        raise CompileError(f"stream_input: the first layer {what} cannot be streamed by rows: {e}") from None
    chain = [first]
    while chain[-1].output not in graph.outputs and front_stage(chain[-1]) != "mbconv":
        users = [s for s in steps if chain[-1].output in s.inputs]
        if len(users) != 1 or users[0].inputs != [chain[-1].output] or front_stage(users[0]) is None:
            break
        try:  # a band past the map's end (an RNNPool whose patches overhang) ends the pipeline before it
            window_rows(front_requests(graph, users[0]), _rows(graph, chain[-1].output)[0])
        except CompileError:
            break
        chain.append(users[0])
    windows, work = [], 0
    for producer, consumer in zip([None, *chain[:-1]], chain, strict=True):
        rows, row_bytes = _rows(graph, consumer.inputs[0])
        requests, keep = front_requests(graph, consumer), None
        if producer is not None and pad_rows_below(graph, producer) and window_rows(requests, rows) > 1:
            keep = real_rows(graph, producer) - 1  # a one-row window still holds the last row its pad rows copy
        windows.append((window_rows(requests, rows, keep), row_bytes))
    scratch = {
        ("input rows" if i == 0 else f"{chain[i - 1].name} rows"): align(n * b) for i, (n, b) in enumerate(windows)
    }
    for part in chain:  # transient per row: one buffer serves them all (see emit_c's front)
        node = part.nodes[0]
        if front_stage(part) == "rnnpool":
            work = max(work, align(rnnpool_get_buffer_size(node.params, node.attrs["rnn1"], node.attrs["rnn2"])))
    sink = chain[-1]
    if front_stage(sink) == "mbconv":
        scratch[f"{sink.name} expanded rows"] = sink.scratch["rows"]
        work = max(work, sink.scratch["dw_row"])
    if work:
        scratch["work"] = work
    front = Step("front", [n for p in chain for n in p.nodes], [x], sink.output, scratch, chain, windows)
    return [front, *(s for s in steps if all(s is not p for p in chain))]


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
