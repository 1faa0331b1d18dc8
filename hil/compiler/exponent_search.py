"""Activation exponents chosen on calibration data, the way SeeDot explores its scale parameter instead of trusting
the largest value it saw.

Every tensor starts at the exponent of its calibrated maximum, which never clips on the calibration set and, being
a power of two, leaves up to half of its int8 range unused. A tensor whose few large values set that maximum (the
first MBConv's expansion, say) has its other values on a grid twice as coarse as they need. So, tensor by tensor in
graph order, the search tries the next finer exponent (those outliers clip, everything else gets twice the
resolution) and keeps it when the golden integer model's output SNR against the float model rises by at least
MIN_GAIN_DB on the search inputs; rounds repeat until one changes nothing. The objective is the mean over the
inputs of the objective's SNRs (output_measures: each objective output's, all outputs unless the model names some;
or a face detector's loc at its face anchors and its conf).

Before the first move the search measures bias correction (quantize.corrected_bias) the same way: the objective
at calibrated exponents with the corrected biases and without, keeping the higher.

The SNR is the golden model's own (bit for bit what host C and the device compute), so a choice is measured, not
estimated. A trial re-runs only the nodes from the first one whose exponents it changed."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np

from hil.compiler import float_executor, golden
from hil.compiler.ir import Graph
from hil.compiler.output_measures import OutputMeasure, measure_for
from hil.compiler.qgraph import QGraph
from hil.compiler.quantize import quantize

LOG = logging.getLogger(__name__)

MODES = ("calibrated", "search")
SEARCH_IMAGES = 8  # calibration inputs the objective is measured on
MIN_GAIN_DB = 0.1  # less than this is the inputs' noise, not a gain
ROUNDS = 3


@dataclass(frozen=True)
class ExponentChoice:
    """One tensor moved to a finer exponent, and the objective's gain when it was taken."""

    tensor: str
    layer: str
    calibrated_exponent: int
    exponent: int
    snr_gain_db: float

    def describe(self) -> str:
        return (
            f"{self.layer} ({self.tensor}): exponent {self.calibrated_exponent} -> {self.exponent}, "
            f"+{self.snr_gain_db:.2f} dB"
        )


@dataclass
class ExponentSearch:
    """What the search chose: whether biases are corrected (the objective at calibrated exponents with and
    without: quantize.corrected_bias), the objective (mean output SNR, dB) before and after, and each choice."""

    mode: str
    objective_outputs: list[str]
    inputs: int
    snr_db_calibrated: float
    snr_db: float
    choices: list[ExponentChoice] = field(default_factory=list)
    bias_correction: bool = False
    snr_db_bias_corrected: float | None = None
    snr_db_uncorrected: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class _GoldenObjective:
    """The mean of the objective's SNRs over the inputs, for a quantisation; the accepted one's values are
    kept so a trial runs only from its first changed node."""

    def __init__(self, graph: Graph, inputs: list[np.ndarray], measure: OutputMeasure, objective: list[str]) -> None:
        self.graph = graph
        self.inputs = inputs
        self.measure = measure
        self.objective = objective
        self.references = [float_executor.outputs(graph, [x]) for x in inputs]
        self.accepted: QGraph | None = None
        self.values: list[dict[str, np.ndarray]] = []

    def _first_changed(self, qgraph: QGraph) -> int:
        if self.accepted is None:
            return 0
        before, after = self.accepted.tensors, qgraph.tensors
        if any(before[t].exponent != after[t].exponent for t in qgraph.inputs):
            return 0
        for i, node in enumerate(qgraph.nodes):
            if any(before[t].exponent != after[t].exponent for t in (*node.inputs, node.output)):
                return i
        return len(qgraph.nodes)

    def _run(self, qgraph: QGraph) -> list[dict[str, np.ndarray]]:
        start = self._first_changed(qgraph)
        runs = []
        for i, x in enumerate(self.inputs):
            values = {qgraph.inputs[0]: qgraph.quantize_input(x)} if start == 0 else dict(self.values[i])
            for node in qgraph.nodes[start:]:
                values[node.output] = golden.run_node(node, [values[t] for t in node.inputs])
            runs.append(values)
        return runs

    def score(self, qgraph: QGraph) -> tuple[float, list[dict[str, np.ndarray]]]:
        runs = self._run(qgraph)
        snrs = []
        for reference, run in zip(self.references, runs, strict=True):
            outputs = zip(qgraph.outputs, reference, strict=True)
            measured = self.measure(reference, [qgraph.dequantize(t, run[t]).reshape(r.shape) for t, r in outputs])
            snrs += [measured[k] for k in self.objective if measured[k] is not None]
        return float(np.mean(snrs)), runs

    def accept(self, qgraph: QGraph, runs: list[dict[str, np.ndarray]]) -> None:
        self.accepted, self.values = qgraph, runs


def search_exponents(
    graph: Graph,
    ranges: dict[str, float],
    inputs: list[np.ndarray],
    objective_outputs: dict[str, str] | None = None,
    measure: OutputMeasure | None = None,
    means: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, float], ExponentSearch, dict[str, np.ndarray] | None]:
    """The ranges quantize should use (a chosen tensor's calibrated max halved, which moves it one exponent finer),
    the record of the search, and the means quantize should correct biases with. inputs: NHWC float calibration
    inputs; measure: the outputs' SNRs (default one per output tensor); objective_outputs: {SNR of the measure: the
    name the record gives it} (default every output, with the default measure); means: quantize's calibration
    means, kept for the search (and returned) when their bias correction raises the objective at calibrated
    exponents, else None. Correcting the weights' mean error is not always a gain under int8 activations, whose own
    rounding and clamps shift means too: it took the M4 face model's objective from 30.83 to 31.08 dB but the
    QVGA's from 29.48 to 29.42, and the held-out test set followed both (python -m hil.compiler.bench_accuracy:
    parity misses at margin 0 of 300 images, M4 8 -> 4, QVGA 5 -> 6)."""
    measure = measure or measure_for("outputs", graph.outputs, None)[0]
    named = objective_outputs or {t: t for t in graph.outputs}
    objective = _GoldenObjective(graph, inputs, measure, list(named))
    uncorrected = quantize(graph, ranges)
    snr_uncorrected, runs = objective.score(uncorrected)
    qgraph, best = uncorrected, snr_uncorrected
    snr_corrected = None
    if means is not None:
        corrected = quantize(graph, ranges, means=means)
        snr_corrected, corrected_runs = objective.score(corrected)
        if snr_corrected > snr_uncorrected:
            qgraph, best, runs = corrected, snr_corrected, corrected_runs
        else:
            means = None
    objective.accept(qgraph, runs)
    record = ExponentSearch(
        "search",
        list(named.values()),
        len(inputs),
        round(best, 2),
        round(best, 2),
        bias_correction=means is not None,
        snr_db_bias_corrected=None if snr_corrected is None else round(snr_corrected, 2),
        snr_db_uncorrected=round(snr_uncorrected, 2),
    )
    calibrated = {t: spec.exponent for t, spec in qgraph.tensors.items()}
    layers = {node.output: node.name for node in graph.nodes}
    chosen = dict(ranges)
    for _ in range(ROUNDS):
        taken = 0
        for node in graph.nodes:
            trial = {**chosen, node.output: chosen.get(node.output, 0.0) / 2}
            candidate = quantize(graph, trial, means=means)
            if candidate.tensors[node.output].exponent == objective.accepted.tensors[node.output].exponent:
                continue  # the producer's accumulator bounds it, or its group's other tensors hold it
            snr, runs = objective.score(candidate)
            if snr < best + MIN_GAIN_DB:
                continue
            record.choices.append(
                ExponentChoice(
                    node.output,
                    layers[node.output],
                    calibrated[node.output],
                    candidate.tensors[node.output].exponent,
                    round(snr - best, 2),
                )
            )
            objective.accept(candidate, runs)
            LOG.info("exponent search took %s", record.choices[-1].describe())
            chosen, best, taken = trial, snr, taken + 1
        if not taken:
            break
    record.snr_db = round(best, 2)
    return chosen, record, means
