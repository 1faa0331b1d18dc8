"""Which quantisation limits a compiled face model's output SNR: every activation tensor alone on its int8 grid
(the rest of the model in float), and every convolution's weights alone at their quantised values, each sorted by
the worst output SNR it leaves over the inputs. Beside them, the model's SNR with all weights quantised and
activations float, with all activations on their grids and float weights, with both (a float simulation of the
integer pipeline), and the golden integer model itself.

    python -m hil.compiler.bench_sensitivity --model m4 --images 5 --top 8

It answers where int16 (or a finer grid) would buy SNR before any kernel is written: on the M4 the RNNPool output
alone on its int8 grid leaves loc at 22 dB on test image 3, while every convolution's int8 weights together leave
it at 28 dB. A tensor's figure is its own noise through the float rest of the model, so the figures do not add up
to the integer model's; a tensor that limits alone limits together too. The totals also give what widening alone
could reach: every activation int16 on the quantised weights (also a bit coarser, since exponents fitted to the
calibration images clip held-out ones), and the arena that would take.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hil.compiler import float_executor, golden
from hil.compiler.bit_widths import arena_bytes, dequantized_weights
from hil.compiler.calibrate import channel_means, synthetic_images
from hil.compiler.ir import Graph
from hil.compiler.qgraph import QGraph, on_grid
from hil.compiler.quantize import corrected_bias


@dataclass(frozen=True)
class Sensitivity:
    """One quantised part alone: its kind ('activation' or 'weights'), the tensor or layer, and per output the
    worst SNR (dB) over the inputs."""

    kind: str
    name: str
    layer: str
    snr_db: dict[str, float]

    @property
    def worst(self) -> float:
        return min(self.snr_db.values())


Grid = Callable[[str, np.ndarray], np.ndarray]


class FloatRuns:
    """The float model's values on each input, and re-runs of it from one node on with parts quantised."""

    def __init__(
        self,
        graph: Graph,
        qgraph: QGraph,
        inputs: list[np.ndarray],
        output_names: list[str],
        means: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.graph, self.qgraph = graph, qgraph
        self.inputs = inputs
        self.means = means
        self.names = dict(zip(graph.outputs, output_names, strict=True))
        self.references = [float_executor.execute(graph, [x]) for x in inputs]

    @functools.cached_property
    def quantised_weights(self) -> Graph:
        """The graph with every convolution's weights at their quantised values."""
        return dequantized_weights(self.graph, self.qgraph)

    @functools.cached_property
    def bias_corrected_weights(self) -> Graph:
        """quantised_weights with every convolution's bias corrected for its weights' rounding on the calibration
        means (quantize.corrected_bias), whether or not the compile chose the correction."""
        corrected = copy.deepcopy(self.quantised_weights)
        for node, original, qnode in zip(corrected.nodes, self.graph.nodes, self.qgraph.nodes, strict=True):
            if node.op != "conv2d" or "filter" not in qnode.arrays:
                continue
            e_w = np.asarray(qnode.attrs["weight_exponents"])
            bits, e_in = 8 * qnode.arrays["filter"].itemsize, self.qgraph.tensors[qnode.inputs[0]].exponent
            node.params["bias"] = corrected_bias(original, self.graph, e_w, bits, e_in, self.means.get(node.inputs[0]))
        return corrected

    def grid(self, tensor: str, value: np.ndarray) -> np.ndarray:
        """A float value of tensor (an input less its offset, as the float executor holds it) on its grid."""
        spec = self.qgraph.tensors[tensor]
        return on_grid(value, spec.exponent, 8 * np.dtype(spec.dtype).itemsize)

    def widened(self, headroom: int) -> Grid:
        """Every tensor but the model inputs (8-bit pixels) at int16 on its int8 grid's range, headroom bits coarser
        (a tensor's exponent was fitted to its calibration images' range; held-out images exceed it)."""

        def grid(tensor: str, value: np.ndarray) -> np.ndarray:
            if tensor in self.graph.inputs:
                return self.grid(tensor, value)
            spec = self.qgraph.tensors[tensor]
            int8_exponent = spec.exponent + (8 if spec.dtype == "int16" else 0)
            return on_grid(value, int8_exponent + headroom - 8, 16)

        return grid

    def gridded_inputs(self, reference: dict[str, np.ndarray], names: Iterable[str] | None = None) -> dict:
        """The model inputs (or those named) of one input's float values, on their grids."""
        return {t: self.grid(t, reference[t]) for t in (self.graph.inputs if names is None else names)}

    def worst(self, runs: list[dict[str, np.ndarray]]) -> dict[str, float]:
        """Per output, the worst SNR over the inputs of the runs' values (one dict per input) against float."""
        return {
            name: min(round(golden.snr_db(ref[t], run[t]), 2) for ref, run in zip(self.references, runs, strict=True))
            for t, name in self.names.items()
        }

    def snr(self, graph: Graph, start: int, quantised: Grid, first: Callable | None = None) -> dict[str, float]:
        """Per output, the worst SNR over the inputs of graph run from node start on (earlier values: the float
        model's), each node's output passed through quantised; first(float values): values that replace them."""
        runs = []
        for reference in self.references:
            values = {**reference, **(first(reference) if first else {})}
            for node in graph.nodes[start:]:
                out = float_executor.run_node(node, [values[t] for t in node.inputs])
                values[node.output] = quantised(node.output, out.reshape(-1, *graph.tensors[node.output].shape[1:]))
            runs.append(values)
        return self.worst(runs)


def _float(_tensor: str, value: np.ndarray) -> np.ndarray:
    return value


def activation_sensitivity(runs: FloatRuns) -> list[Sensitivity]:
    """Every tensor alone on its grid, the rest of the model in float."""
    graph = runs.graph
    found = []
    for t in graph.inputs:
        snr = runs.snr(graph, 0, _float, lambda reference, t=t: runs.gridded_inputs(reference, [t]))
        found.append(Sensitivity("activation", t, "input", snr))
    for i, node in enumerate(graph.nodes):
        t = node.output
        snr = runs.snr(graph, i, lambda tensor, v, t=t: runs.grid(tensor, v) if tensor == t else v)
        found.append(Sensitivity("activation", t, node.name, snr))
    return sorted(found, key=lambda s: s.worst)


def weight_sensitivity(runs: FloatRuns) -> list[Sensitivity]:
    """Every convolution's weights alone at their quantised values, activations float."""
    found = []
    for i, (node, q) in enumerate(zip(runs.graph.nodes, runs.quantised_weights.nodes, strict=True)):
        if node.op != "conv2d" or np.array_equal(node.params["weight"], q.params["weight"]):
            continue
        one = copy.copy(runs.graph)
        one.nodes = list(runs.graph.nodes)
        one.nodes[i] = q
        found.append(Sensitivity("weights", node.name, node.name, runs.snr(one, i, _float)))
    return sorted(found, key=lambda s: s.worst)


def totals(runs: FloatRuns, compiled_golden: Callable[[np.ndarray], list[np.ndarray]]) -> dict[str, dict[str, float]]:
    """The model's output SNR per output (worst over the inputs) with all weights quantised, all activations on
    their grids, both, the golden integer model's, and the quantised weights with every activation int16 (what
    widening alone could reach), also with a bit of headroom; with calibration means (FloatRuns.means), the
    weights with corrected biases (quantize.corrected_bias) alone and under every activation int16 with that bit."""
    q = runs.qgraph
    integers = [zip(q.outputs, compiled_golden(x), strict=True) for x in runs.inputs]
    widened = {
        f"int16 activations{', 1 bit headroom' if headroom else ''}": runs.snr(
            runs.quantised_weights, 0, runs.widened(headroom), runs.gridded_inputs
        )
        for headroom in (0, 1)
    }
    if runs.means is not None:
        corrected = runs.bias_corrected_weights
        widened["weights bias-corrected"] = runs.snr(corrected, 0, _float)
        widened["int16 activations, 1 bit headroom, bias-corrected"] = runs.snr(
            corrected, 0, runs.widened(1), runs.gridded_inputs
        )
    return {
        "weights": runs.snr(runs.quantised_weights, 0, _float),
        "activations": runs.snr(runs.graph, 0, runs.grid, runs.gridded_inputs),
        "weights and activations": runs.snr(runs.quantised_weights, 0, runs.grid, runs.gridded_inputs),
        **widened,
        "golden integer model": runs.worst(
            [
                {t: q.dequantize(t, v).reshape(ref[t].shape) for t, v in outputs}
                for ref, outputs in zip(runs.references, integers, strict=True)
            ]
        ),
    }


def bench(model_name: str, images: int, work: Path) -> dict:
    """The figures of one registered face model (m4 or qvga) on the first test images, compiled as the catalog
    compiles it."""
    from hil.catalog import compile_spec, resolve_model
    from hil.catalog.compile_cache import nhwc_inputs

    spec = resolve_model(model_name)
    compiled = compile_spec(spec, directory=work / model_name)
    inputs = synthetic_images(images, "test")  # held out: the compiler calibrates on the val split
    means = channel_means(compiled.graph, nhwc_inputs(spec.calibration_inputs()))
    runs = FloatRuns(compiled.graph, compiled.qgraph, inputs, list(spec.output_names), means)
    return {
        "model": spec.name,
        "images": images,
        "totals": totals(runs, compiled.golden),
        "arena_bytes": compiled.memory.arena_bytes,
        "arena_int16_activations_bytes": arena_bytes(
            compiled.qgraph, compiled.steps, set(compiled.qgraph.tensors) - set(compiled.qgraph.inputs)
        ),
        "activations": [asdict(s) for s in activation_sensitivity(runs)],
        "weights": [asdict(s) for s in weight_sensitivity(runs)],
    }


def _print(result: dict, top: int) -> None:
    print(f"{result['model']}: worst output SNR (dB) over the first {result['images']} test images")
    for what, snr in result["totals"].items():
        print(f"  {what:50s} " + ", ".join(f"{k} {v:.1f}" for k, v in snr.items()))
    print(
        f"  arena {result['arena_bytes']:,} B compiled; every activation int16 "
        f"{result['arena_int16_activations_bytes']:,} B (the planner's, on the compiled schedule)"
    )
    for kind, title in (("activations", "one tensor on its int8 grid"), ("weights", "one layer's int8 weights")):
        print(f"  {title}, the rest float (the {top} that limit most):")
        for s in result[kind][:top]:
            figures = ", ".join(f"{k} {v:.1f}" for k, v in s["snr_db"].items())
            where = s["layer"] if kind == "weights" else f"{s['name']:8s} {s['layer']}"
            print(f"    {where:42s} {figures}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("m4", "qvga"), action="append", help="face model(s); default both")
    parser.add_argument("--images", type=int, default=5, help="first N images of the synthetic test split")
    parser.add_argument("--top", type=int, default=8, help="print the N parts that limit the SNR most")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.images < 1 or args.top < 1:
        parser.error("--images and --top take a positive count")
    with tempfile.TemporaryDirectory() as work:
        results = [bench(m, args.images, Path(work)) for m in args.model or ("m4", "qvga")]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            _print(result, args.top)


if __name__ == "__main__":
    main()
