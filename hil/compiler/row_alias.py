"""Where a step's output may overwrite the input rows it has consumed.

The row-streamed steps (the stem convolution, the RNNPool patch loop, alone or writing into its pad's layout,
the replicate pad, L2Norm and the fused MBConv blocks) write their output rows in order, and once output row y is being
written they never read an input row below needed(y) again (needed never decreases). So the output may sit at
input offset + delta whenever every output row ends before the input rows still to be read begin:

    delta + (y + 1) * out_row_bytes <= needed(y) * in_row_bytes     for every output row y.

The plan places such an output at input offset + delta, delta = the largest delta that holds (rounded down to
ALIGN; positive when the output rows fall behind the input rows, e.g. a strided or narrower output), when the
step is its input's last reader: the input image's bytes become the stem's output, the stem's the RNNPool's, the
RNNPool map's the first MBConv's, so no step holds a whole input map and a whole output map side by side.
needed(y) is read off each kernel's loop (the C in firmware/kernels and c_support.MBCONV, whose row order
this module depends on; tests/compiler/test_row_alias.py runs the aliased C against the golden model)."""

from __future__ import annotations

from collections.abc import Callable

from hil.compiler.qgraph import QGraph
from hil.compiler.schedule import ALIGN, Step


def _conv_needed(stride: int, pad: int) -> Callable[[int], int]:
    # conv2d_s8_w16: output row y reads input rows y*stride - pad .. (+ kernel height), clipped at 0.
    return lambda y: max(0, y * stride - pad)


def _needed_rows(graph: QGraph, step: Step) -> Callable[[int], int] | None:
    """needed(y) for a step whose output may overwrite its consumed input rows, else None."""
    node = step.nodes[0]
    if step.kind == "front":
        return None  # its input is read by rows through hil_input_read, never in the arena
    if step.kind == "l2norm_conv":
        return None  # its input is a detection source, which other steps read after it
    if step.kind == "mbconv":
        depthwise = step.nodes[1]
        height = graph.tensors[node.inputs[0]].shape[1]
        k_h = depthwise.arrays["filter"].shape[1]
        stride, pad = depthwise.params.stride_h, depthwise.params.pad_h
        residual = len(step.nodes) == 4
        # gen_mbconv_s8 expands input rows up to top + k_h before writing output row y; the residual add reads
        # input row y while it writes output row y.
        return lambda y: min(min(y * stride - pad + k_h, height), y if residual else height)
    if node.kernel == "conv2d_s8_w16":
        return _conv_needed(node.params.stride_h, node.params.pad_h)
    if node.kernel in ("rnnpool_s8", "rnnpool_offset_s8"):
        # The patch row y reads input rows y*stride on; a fused pad fills its edge rows after every patch ran.
        stride, rows = node.attrs["stride"], graph.tensors[node.output].shape[1]
        height = graph.tensors[node.inputs[0]].shape[1]
        return lambda y: y * stride if y < rows else height
    if node.kernel == "l2norm_s8":
        # l2norm_s8 reads each pixel before writing it; rows are the unit here, so output row y stays off row y.
        return lambda y: y
    if node.kernel == "pad":
        height, top = graph.tensors[node.inputs[0]].shape[1], node.attrs["top"]
        # gen_pad_replicate_s8 writes output row y from input row clamp(y - top).
        return lambda y: min(max(y - top, 0), height - 1)
    return None


def alias_delta(graph: QGraph, step: Step) -> int | None:
    """The largest offset of the step's output from its (first) input at which the output may overwrite consumed
    input rows, a multiple of ALIGN (the output then ends inside the input: the bound at its last row); None when
    the step does not stream by rows."""
    needed = _needed_rows(graph, step)
    if needed is None or graph.tensors[step.inputs[0]].shape[0] != 1:
        return None
    in_h, out_h = graph.tensors[step.inputs[0]].shape[1], graph.tensors[step.output].shape[1]
    in_row = graph.tensors[step.inputs[0]].nbytes // in_h
    out_row = graph.tensors[step.output].nbytes // out_h
    bound = min(needed(y) * in_row - (y + 1) * out_row for y in range(out_h))
    return bound // ALIGN * ALIGN


def row_aliases(graph: QGraph, steps: list[Step], last_use: dict[str, int], exclude: set[str]) -> dict[str, tuple]:
    """output tensor -> (input tensor, delta) for every step that may write over its input: it is the input's
    last reader, and neither tensor is a model output or in exclude (buffers placed some other way)."""
    aliases = {}
    for i, step in enumerate(steps):
        source = step.inputs[0]
        if (
            last_use.get(source) != i
            or source in step.inputs[1:]
            or {source, step.output} & (exclude | set(graph.outputs))
        ):
            continue
        delta = alias_delta(graph, step)
        if delta is not None:
            aliases[step.output] = (source, delta)
    return aliases
