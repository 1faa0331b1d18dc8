"""Per-tensor activation bit widths (int8 or int16) chosen against a RAM budget, the way SeeDot chooses them:
start from the narrow form and widen, one tensor group at a time, the tensor that buys the most output SNR per
arena byte, until nothing fits the budget or helps. A 1x1 convolution's weights are a candidate too
(quantize.weight_name: conv2d_a16_w16), costing no arena, only instructions: the QVGA's first MBConv expansion
multiplies RNNPool's centred output by BatchNorm gains of ~100, and its int8 weights alone cap loc under 30 dB.
The SNR is the model's measure (output_measures): each output's over all its values, or a face detector's where
its detections are read.

The SNR of a choice comes from a simulation of the integer pipeline: the float executor on the centred IR with
the quantised weights, every tensor rounded and saturated to its grid (exponent and width). At int8 it agrees with
the golden model's SNR within 1 dB on the face models (tests/compiler/test_bit_widths.py; it does not round the
kernels' inner steps). Unlike the golden model it needs no integer kernel for a width, so it can weigh widths the
kernels do not have yet.
The bytes come from the memory planner: the arena of the scheduled graph with the chosen tensors at int16, the
fused steps' row rings doubled for the int16 tensors they hold, minus the int8 arena. The instructions they add come
from a cost model (width_cost), so a latency budget, when given, bounds the search too."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from hil.compiler import float_executor, width_cost
from hil.compiler.ir import Graph, Node
from hil.compiler.output_measures import OutputMeasure, measure_for
from hil.compiler.progress import counted
from hil.compiler.qgraph import DEPTHWISE_KERNELS, QGraph, on_grid
from hil.compiler.quantize import exponent_at_width, exponent_groups, weight_exponents, weight_layer, weight_name
from hil.compiler.schedule import Step, align

LOG = logging.getLogger(__name__)

WIDTHS = (8, 16)
MODES = ("int8", "search")
# Calibration inputs the search measures SNR on: all 4 of a face model's (a third more time than 3). On 3, once the
# depthwise widenings grew cheap (depthwise_conv2d_a16's 3x3 run) and latency stopped bounding the QVGA's search, it
# took widenings that read lower on the held-out test images (conf on test image 0 32.0 dB, with 4 images 33.6).
SEARCH_IMAGES = 4
MIN_GAIN_DB = 0.05  # a widening that buys less output SNR than this is noise, not a gain


@dataclass(frozen=True)
class WidthChoice:
    """One widened tensor group and why: the output SNR it added (the search's objective: the mean of its
    objective SNRs, in dB), the arena bytes and the instructions per inference (width_cost's estimate) it cost when
    it was taken."""

    tensors: tuple[str, ...]
    layer: str
    bits: int
    snr_gain_db: float
    arena_bytes: int
    instructions: int

    def describe(self) -> str:
        return (
            f"int{self.bits} {self.layer} ({', '.join(self.tensors)}): +{self.snr_gain_db:.2f} dB for "
            f"{self.arena_bytes:,} arena bytes, {self.instructions:,} instructions (estimated)"
        )


@dataclass
class WidthSearch:
    """What the search chose against which budget, on which SNRs (objective, their mean raised); applied lists the
    tensors the compiled code runs at int16.
    arena_bytes is the search's estimate (the int8 schedule's order kept, so at least the real cost);
    planned_arena_bytes the arena the compiled model's own schedule and plan take for the chosen widths.
    instructions: what the choices add per inference over int8, by width_cost's estimate, against
    latency_budget_instructions (None: no latency budget)."""

    mode: str
    arena_budget_bytes: int | None
    arena_int8_bytes: int
    arena_bytes: int
    snr_db_int8: dict[str, float]
    snr_db: dict[str, float]
    objective: list[str]
    choices: list[WidthChoice] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    reason: str = ""
    planned_arena_bytes: int | None = None
    latency_budget_instructions: int | None = None
    instructions: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def dequantized_weights(graph: Graph, qgraph: QGraph) -> Graph:
    """graph with every convolution's weights and bias replaced by their quantised values (quantize emits one QNode
    per IR node, in order; the bias is the corrected one, quantize.corrected_bias)."""
    simulated = copy.deepcopy(graph)
    for node, qnode in zip(simulated.nodes, qgraph.nodes, strict=True):
        if node.op != "conv2d" or "filter" not in qnode.arrays:
            continue
        e = np.asarray(qnode.attrs["weight_exponents"], np.float64)
        e_in = qgraph.tensors[qnode.inputs[0]].exponent
        node.params["bias"] = qnode.arrays["bias"].astype(np.float64) * 2.0 ** (e_in + e)
        q = qnode.arrays["filter"].astype(np.float64)
        if qnode.kernel in DEPTHWISE_KERNELS:  # [1, kh, kw, C] -> OIHW [C, 1, kh, kw]
            node.params["weight"] = (q[0] * 2.0**e).transpose(2, 0, 1)[:, None]
        else:  # OHWI -> OIHW
            node.params["weight"] = (q * 2.0 ** e[:, None, None, None]).transpose(0, 3, 1, 2)
    return simulated


class PipelineSimulator:
    """The integer pipeline's output SNR against float for any per-tensor widths, on a few inputs. Values of the
    accepted widths are cached, so a candidate re-runs only the nodes its widened tensors reach."""

    def __init__(
        self, graph: Graph, qgraph: QGraph, inputs: list[np.ndarray], measure: OutputMeasure | None = None
    ) -> None:
        self.graph = dequantized_weights(graph, qgraph)
        self.qgraph = qgraph
        self.inputs = inputs
        self.measure = measure or measure_for("outputs", graph.outputs, None)[0]
        self.references = [float_executor.outputs(graph, [x]) for x in inputs]
        self.originals = {node.name: node for node in graph.nodes}
        self.int16_weights: dict[tuple[str, int, int], Node] = {}
        self.widths: dict[str, int] = {}
        self.values = [self._run(x, {}, self.widths, frozenset()) for x in inputs]

    def _exponent(self, name: str, widths: dict[str, int]) -> int:
        return exponent_at_width(self.qgraph.tensors[name].exponent, widths.get(name, 8))

    def _grid(self, name: str, value: np.ndarray, widths: dict[str, int]) -> np.ndarray:
        return on_grid(value, self._exponent(name, widths), widths.get(name, 8))

    def _with_int16_weights(self, node: Node, widths: dict[str, int]) -> Node:
        """node (its int8 weights dequantised) with the original weights rounded as quantize rounds int16 ones at the
        widths' input and output exponents; the bias stays as quantised."""
        e_in, e_out = self._exponent(node.inputs[0], widths), self._exponent(node.output, widths)
        key = (node.name, e_in, e_out)
        if key not in self.int16_weights:
            original = self.originals[node.name]
            e_w = weight_exponents(original, e_in, 16, e_out).reshape(-1, *[1] * (node.params["weight"].ndim - 1))
            weight = on_grid(original.params["weight"], e_w, 16)
            self.int16_weights[key] = replace(node, params={**node.params, "weight": weight})
        return self.int16_weights[key]

    def _run(self, x: np.ndarray, cached: dict, widths: dict[str, int], changed: frozenset[str]) -> dict:
        """The values with widths, from cached (the values of widths without changed, which names the tensors and
        weights whose width differs): only the nodes that produce a changed tensor, hold changed weights or read a
        value recomputed here run again; every other value is exactly the cached one (a head that reads nothing
        the candidate touches costs nothing)."""
        values = dict(cached)
        recomputed = {t for t in self.graph.inputs if t in changed or not cached}
        if recomputed:
            inputs = float_executor.input_values(self.graph, [x])
            values |= {t: self._grid(t, inputs[t], widths) for t in recomputed}
        for node in self.graph.nodes:
            stale = node.output in changed or weight_name(node.name) in changed or not cached
            if not stale and recomputed.isdisjoint(node.inputs):
                continue
            if widths.get(weight_name(node.name)) == 16:
                node = self._with_int16_weights(node, widths)
            out = float_executor.run_node(node, [values[t] for t in node.inputs])
            values[node.output] = self._grid(
                node.output, out.reshape(-1, *self.graph.tensors[node.output].shape[1:]), widths
            )
            recomputed.add(node.output)
        return values

    def snr(self, extra: tuple[str, ...] = ()) -> dict[str, float]:
        """Per SNR of the measure (default: per output), the worst (dB) over the inputs with the accepted widths plus
        extra at int16; an SNR no input has a signal for is left out."""
        widths = {**self.widths, **{t: 16 for t in extra}}
        changed = frozenset(t for t in extra if self.widths.get(t) != 16)
        return self._snr([self._run(x, v, widths, changed) for x, v in zip(self.inputs, self.values, strict=True)])

    def _snr(self, runs: list[dict[str, np.ndarray]]) -> dict[str, float]:
        worst: dict[str, float] = {}
        for reference, run in zip(self.references, runs, strict=True):
            measured = self.measure(reference, [run[t] for t in self.graph.outputs])
            for name, value in measured.items():
                if value is not None:
                    worst[name] = min(worst.get(name, float("inf")), float(value))
        return {name: round(value, 2) for name, value in worst.items()}

    def accept(self, tensors: tuple[str, ...]) -> None:
        changed = frozenset(t for t in tensors if self.widths.get(t) != 16)
        self.widths.update({t: 16 for t in tensors})
        self.values = [self._run(x, v, self.widths, changed) for x, v in zip(self.inputs, self.values, strict=True)]


def width_groups(graph: Graph) -> list[tuple[str, ...]]:
    """The tensors that must share a width (quantize.exponent_groups: they share one grid), in graph order."""
    shared = exponent_groups(graph)
    groups: dict[str, list[str]] = {}
    for name in [*graph.inputs, *(n.output for n in graph.nodes)]:
        groups.setdefault(shared.find(name), []).append(name)
    return [tuple(g) for g in groups.values()]


def _fused_scratch(step: Step, wide: set[str]) -> dict[str, int]:
    """A fused step's scratch with the rings of its int16 inner tensors doubled (schedule sizes them in int8)."""
    holds = {}
    if step.kind == "front":  # the row windows of the input and each part, the last part's MBConv rows
        holds = {"input rows": step.inputs[0], **{f"{part.name} rows": part.output for part in step.parts[:-1]}}
        sink = step.parts[-1]
        if sink.kind == "mbconv":
            holds |= {f"{sink.name} expanded rows": sink.nodes[0].output, "work": sink.nodes[1].output}
    elif step.kind == "mbconv":
        holds = {"rows": step.nodes[0].output, "dw_row": step.nodes[1].output, "project_row": step.nodes[2].output}
    elif step.kind == "l2norm_conv":
        holds = {"rows": step.nodes[0].output}
    return {k: align(2 * v) if holds.get(k) in wide else v for k, v in step.scratch.items()}


def arena_bytes(qgraph: QGraph, steps: list[Step], wide: set[str]) -> int:
    """The planner's arena for the int8 schedule steps with the tensors in wide at int16 (the order the int8
    schedule found is kept: reordering for every candidate would cost the search a second per candidate)."""
    from hil.compiler.memory_plan import plan

    widened = copy.copy(qgraph)
    widened.tensors = {name: replace(t, dtype="int16") if name in wide else t for name, t in qgraph.tensors.items()}
    return plan(widened, [replace(s, scratch=_fused_scratch(s, wide)) for s in steps]).arena_bytes


def _layer(graph: Graph, qgraph: QGraph, tensors: tuple[str, ...]) -> str:
    layer = weight_layer(graph, tensors[0])
    if layer is not None:
        return layer.name
    producers = {n.output: n.name for n in qgraph.nodes}
    return producers.get(tensors[0], "input")


def _budget_share(arena: int, arena_room: int | None, instructions: int, latency_budget: int | None) -> float:
    """The larger share of a budget a widening uses: its arena bytes of the room the budget leaves over the int8
    arena, its instructions of the latency budget (0 for a resource without a budget). Scoring gain per share of the
    tighter budget, a cheap-in-bytes widening that eats the latency budget no longer crowds out a better one (the
    M4's RNNPool output, once mob.3's int16 expansion was a candidate)."""
    shares = [arena / arena_room if arena_room else 0.0, instructions / latency_budget if latency_budget else 0.0]
    return max(0.0, *shares)


def search(
    graph: Graph,
    qgraph: QGraph,
    inputs: list[np.ndarray],
    arena_budget: int | None,
    candidates: Callable[[tuple[str, ...]], bool] | None = None,
    stream_input: bool = False,
    objective: tuple[str, ...] = (),
    measure: OutputMeasure | None = None,
    latency_budget: int | None = None,
) -> WidthSearch:
    """Greedy widening within arena_budget bytes (None: no limit): each round re-measures every remaining group's
    gain on top of the widths taken so far and takes the best gain per share of the budget it uses (_budget_share:
    of the arena room or of the latency budget, whichever it uses more of; free ones first), among
    those whose instructions (width_cost's estimate, over int8) stay within latency_budget (None: no limit).
    candidates: which groups may be widened (default: all, to weigh widths the kernels lack). stream_input: plan the
    arena for the streamed schedule the model will run (schedule.stream_front). measure: the SNRs of the outputs
    (output_measures; default one per output tensor); objective: those whose mean the search raises (default all).
    The mean, not the worst: with the worst, a gain anywhere but in the lowest SNR counts for nothing, so a face
    detector's loc heads were never widened while its scores were lower."""
    from hil.compiler.memory_plan import scheduled_plan

    simulator = PipelineSimulator(graph, qgraph, inputs, measure)
    steps, memory = scheduled_plan(qgraph, stream_input=stream_input)
    base_arena = memory.arena_bytes
    base_snr = simulator.snr()
    objective = tuple(t for t in objective or base_snr if t in base_snr)
    mean = lambda snr: sum(snr[t] for t in objective) / len(objective)  # noqa: E731
    result = WidthSearch(
        "search",
        arena_budget,
        base_arena,
        base_arena,
        base_snr,
        base_snr,
        list(objective),
        latency_budget_instructions=latency_budget,
    )
    if arena_budget is not None and base_arena > arena_budget:
        result.reason = f"the int8 arena ({base_arena:,} B) is already over the budget ({arena_budget:,} B)"
        return result
    weights = [(weight_name(n.name),) for n in graph.nodes if n.op == "conv2d"]
    groups = [g for g in [*width_groups(graph), *weights] if candidates is None or candidates(g)]
    wide: set[str] = set()
    arena, reached, instructions = base_arena, mean(base_snr), 0
    while groups:
        best = None
        for group in groups:
            snr = simulator.snr(group)
            gain = mean(snr) - reached
            if gain < MIN_GAIN_DB:
                continue
            cost = arena_bytes(qgraph, steps, wide | set(group)) - arena
            if arena_budget is not None and arena + cost > arena_budget:
                continue
            slower = width_cost.extra_instructions(graph, qgraph, wide | set(group))
            if latency_budget is not None and slower > latency_budget:
                continue
            use = _budget_share(cost, arena_budget and arena_budget - base_arena, slower - instructions, latency_budget)
            score = (use > 0, -gain / max(use, 1e-12))
            if best is None or score < best[0]:
                best = (score, group, cost, gain, snr, slower)
        if best is None:
            break
        _, group, cost, gain, snr, slower = best
        simulator.accept(group)
        wide |= set(group)
        groups.remove(group)
        arena += cost
        reached += gain
        result.choices.append(
            WidthChoice(group, _layer(graph, qgraph, group), 16, round(float(gain), 2), cost, slower - instructions)
        )
        instructions = slower
        result.snr_db = snr
        LOG.info("bit-width search took %s", result.choices[-1].describe())
    result.arena_bytes, result.instructions = arena, instructions
    within = "" if latency_budget is None else f" (latency budget {latency_budget:,})"
    result.reason = (
        f"{counted(len(result.choices), 'group')} widened to int16: mean SNR of {', '.join(objective)} "
        f"{mean(base_snr):.1f} -> {reached:.1f} dB for {arena - base_arena:,} arena bytes and an estimated "
        f"{instructions:,} more instructions per inference{within}"
    )
    return result
