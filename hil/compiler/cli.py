"""`hil compile`: a model (any --model form) to model.c/model.h, with a per-layer summary."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from hil.compiler import bit_widths, exponent_search, live_set, output_measures
from hil.compiler.pipeline import CompiledModel
from hil.compiler.progress import counted
from hil.compiler.schedule import Step
from hil.errors import HilError

MODEL_HELP = (
    "a catalog name (rnnpool_face_m4, ...), package.module:factory, path/to/file.py:factory, a .onnx file, "
    "or an entry point of the hil.models group"
)
INPUT_SHAPE_HELP = (
    "input shape (e.g. 1,3,32,32) for a factory that returns a bare nn.Module, or an .onnx file that leaves height "
    "or width open"
)


def _weight_scales(step: Step) -> dict[str, dict[str, list[int]]]:
    """Per convolution of a step (several in a fused MBConv): the weight exponent and the output shift of every
    output channel, the scales its int8 tensor exponents do not record."""
    return {
        n.name: {"weight_exponents": list(n.attrs["weight_exponents"]), "out_shift": n.arrays["out_shift"].tolist()}
        for n in step.nodes
        if "weight_exponents" in n.attrs
    }


def _exponent_range(convolutions: dict[str, dict[str, list[int]]]) -> str:
    exponents = [e for c in convolutions.values() for e in c["weight_exponents"]]
    return f"{min(exponents)}..{max(exponents)}" if exponents else "-"


def layer_summary(compiled: CompiledModel) -> list[dict]:
    """One row per step: what it computes, its output shape, scale, bits, MACs, arena offset, flash bytes and its
    convolutions' per-channel weight exponents and output shifts."""
    rows = []
    for i, step in enumerate(compiled.steps):
        out = compiled.qgraph.tensors[step.output]
        rows.append(
            {
                "layer": i,
                "name": step.name,
                "op": step.nodes[0].kernel if step.kind == "node" else step.kind,
                "shape": list(out.shape),
                "exponent": out.exponent,
                "scale": out.scale,
                "bits": 8 * np.dtype(out.dtype).itemsize,
                "macs": sum(n.macs for n in step.nodes),
                "arena_offset": compiled.memory.offsets[step.output],
                "flash_bytes": sum(n.flash_bytes for n in step.nodes),
                "scratch_bytes": sum(step.scratch.values()),
                "convolutions": _weight_scales(step),
            }
        )
    return rows


def ram_estimate(arena_bytes: int, board_name: str, model_budget: int | None = None) -> dict:
    """What the firmware around this arena will reserve in RAM and CCM, before it is linked: the stack reservation
    and the largest transport's link buffers are the builder's figures (test_cases/test_budgets.py checks them
    against the linked ELF), against the board's RAM budget and the model's own (None when it states none)."""
    from hil.board_description import load_board
    from hil.build.firmware_builder import LINK_BUFFER_BYTES, OTHER_STATIC_BYTES, STACK_BYTES

    transport = max(LINK_BUFFER_BYTES, key=LINK_BUFFER_BYTES.get)
    parts = {
        "arena_bytes": arena_bytes,
        "stack_reservation_bytes": STACK_BYTES,
        "link_buffer_bytes": LINK_BUFFER_BYTES[transport],
        "other_static_bytes": OTHER_STATIC_BYTES,
    }
    return {
        **parts,
        "link_buffers_of": transport,
        "total_bytes": sum(parts.values()),
        "budget_bytes": load_board(board_name).ram_budget,
        "model_budget_bytes": model_budget,
    }


def bit_width_spec(spec, mode: str | None, board: str, ram_budget: int | None, latency_budget: int | None = None):
    """spec with --bit-widths (None: the model's choice): search gets the RAM budget (--ram-budget, else the
    smaller of the board's and the model's) less what the firmware reserves besides the arena (stack, link
    buffers, static data), and the instructions its int16 choices may add (--latency-budget, else the model's)."""
    from hil.build.firmware_builder import reserved_ram_bytes

    mode = mode or spec.bit_widths
    if ram_budget is None:
        budgets = (ram_estimate(0, board)["budget_bytes"], spec.budgets.ram_bytes)
        ram_budget = min(b for b in budgets if b is not None)
    searched = mode == "search"
    if latency_budget is not None and latency_budget < 0:
        raise HilError(f"--latency-budget {latency_budget}: expected the instructions int16 may add, 0 or more")
    if latency_budget is not None and not searched:
        raise HilError(
            f"--latency-budget bounds the bit-width search, and --bit-widths is {mode}: pass --bit-widths search"
        )
    latency = latency_budget if latency_budget is not None else spec.bit_width_latency_budget
    return replace(
        spec,
        bit_widths=mode,
        bit_width_arena_budget=ram_budget - reserved_ram_bytes() if searched else None,
        bit_width_latency_budget=latency if searched else None,
    ), ram_budget


def bit_width_record(compiled: CompiledModel, ram_budget: int) -> dict:
    """What --bit-widths chose: the search's choices, their SNR gain and arena bytes, or int8 everywhere."""
    if compiled.bit_widths is None:
        return {"mode": "int8", "ram_budget_bytes": ram_budget, "choices": [], "applied": [], "reason": "not searched"}
    return {**compiled.bit_widths.to_dict(), "ram_budget_bytes": ram_budget}


def exponent_record(compiled: CompiledModel) -> dict:
    """What the exponent search chose (each tensor moved finer, and its SNR gain), or the calibrated exponents."""
    if compiled.exponents is None:
        return {"mode": "calibrated", "choices": []}
    return compiled.exponents.to_dict()


def compile_summary(compiled: CompiledModel, board: str = "nucleo-f439zi", model_budget: int | None = None) -> dict:
    """The compile as JSON: hash, arena, weights, MACs, tensors, the per-layer table, the live set of every step
    and the RAM the firmware will reserve on board (against the board's and the model's RAM budgets)."""
    sources = compiled.emitted.sources
    return {
        "model": sources.name,
        "hash": sources.hash,
        "directory": str(sources.directory),
        "arena_bytes": compiled.memory.arena_bytes,
        "arena_lower_bound_bytes": compiled.memory.lower_bound,
        "weight_flash_bytes": compiled.emitted.flash_bytes,
        "macs": compiled.qgraph.macs,
        "inputs": [s.__dict__ for s in sources.inputs],
        "outputs": [s.__dict__ for s in sources.outputs],
        "layers": layer_summary(compiled),
        "bias_corrected_layers": compiled.bias_corrected,
        "live_sets": [s.to_dict() for s in live_set.live_sets(compiled.memory, compiled.steps)],
        "ram": ram_estimate(compiled.memory.arena_bytes, board, model_budget),
    }


def _calibration(spec, path: Path, limit: int | None):
    """--calib: a folder of pictures (converted as the model's spec says) or an .npz whose first array is the
    inputs in the model's own layout."""
    from hil.catalog.preprocess import model_image, no_pictures, picture_files, read_image

    if path.suffix == ".npz":
        with np.load(path) as data:
            if not data.files:
                raise HilError(f"--calib {path}: the .npz holds no array")
            inputs = data[data.files[0]][:limit]
        return lambda count: inputs
    if not path.is_dir():
        raise HilError(f"--calib {path}: expected a folder of pictures or an .npz file")
    pictures = picture_files(path)[:limit]
    if not pictures:
        raise HilError(no_pictures("--calib", path))
    inputs = np.concatenate([model_image(spec, read_image(p)).x for p in pictures])
    return lambda count: inputs


def _compile(args: argparse.Namespace) -> dict:
    from hil.catalog import compile_spec, resolve_model, with_checkpoint
    from hil.catalog.resolve import parse_input_shape

    spec = resolve_model(args.model, parse_input_shape(args.input_shape))
    if args.checkpoint:
        spec = with_checkpoint(spec, args.checkpoint)
    if args.calib:
        spec = replace(spec, calibration=_calibration(spec, args.calib, args.calib_limit))
    if args.name:
        spec = replace(spec, name=args.name)
    if args.exponents:
        spec = replace(spec, exponents=args.exponents)
    if args.stream_input:
        spec = replace(spec, stream_input=args.stream_input == "on")
    if args.output_measure:
        spec = replace(spec, output_measure=args.output_measure)
    spec, ram_budget = bit_width_spec(spec, args.bit_widths, args.board, args.ram_budget, args.latency_budget)
    compiled = compile_spec(spec, directory=args.output)
    result = compile_summary(compiled, args.board, spec.budgets.ram_bytes)
    result["bit_widths"] = bit_width_record(compiled, ram_budget)
    result["exponents"] = exponent_record(compiled)
    rows = result["layers"]
    if not args.json:
        print(f"{result['model']} -> {result['directory']} (hash {result['hash']})")
        print(
            f"{'#':>3} {'op':<20} {'name':<26} {'shape':<18} {'exp':>4} {'bits':>4} {'w exp':>8} {'MACs':>11} "
            f"{'offset':>7} {'flash':>7}"
        )
        for r in rows:
            print(
                f"{r['layer']:>3} {r['op']:<20} {r['name'][:26]:<26} {'x'.join(map(str, r['shape'])):<18} "
                f"{r['exponent']:>4} {r['bits']:>4} {_exponent_range(r['convolutions']):>8} {r['macs']:>11,} "
                f"{r['arena_offset']:>7} {r['flash_bytes']:>7,}"
            )
        print("w exp: the range of the layer's per-output-channel weight exponents (--json lists each channel's)")
        print(
            f"arena {result['arena_bytes']:,} B (lower bound {result['arena_lower_bound_bytes']:,} B), "
            f"weights {result['weight_flash_bytes']:,} B, {result['macs']:,} MACs"
        )
        corrected = result["bias_corrected_layers"]
        print(
            f"bias correction: {counted(len(corrected), 'layer')} (their weights' mean rounding error on the "
            "calibration inputs)"
            if corrected
            else "bias correction: none (off by the exponent search, or no input with a calibration mean)"
        )
        print(live_set.table(live_set.live_sets(compiled.memory, compiled.steps)))
        widths = result["bit_widths"]
        planned = widths.get("planned_arena_bytes")
        extra = planned - widths["arena_int8_bytes"] if planned is not None else None
        print(
            f"bit widths ({widths['mode']}): {widths['reason']}"
            + (
                f" (arena estimated; the compiled plan: {extra:+,} B)"
                if extra is not None and widths["choices"]
                else ""
            )
        )
        for choice in compiled.bit_widths.choices if compiled.bit_widths else []:
            print(f"  {choice.describe()}")
        chosen = result["exponents"]
        if chosen["mode"] == "search":
            print(
                f"exponents (search, mean SNR of {', '.join(chosen['objective_outputs'])} on {chosen['inputs']} "
                f"calibration inputs): {chosen['snr_db_calibrated']:.2f} -> {chosen['snr_db']:.2f} dB"
            )
            if chosen["snr_db_bias_corrected"] is not None:
                print(
                    f"  bias correction {'on' if chosen['bias_correction'] else 'off'}: "
                    f"{chosen['snr_db_bias_corrected']:.2f} dB with it, {chosen['snr_db_uncorrected']:.2f} without"
                )
            for choice in compiled.exponents.choices:
                print(f"  {choice.describe()}")
        ram = result["ram"]
        print(
            f"RAM+CCM reserved on {args.board} (estimate; `hil build` reads the ELF): {ram['total_bytes']:,} B = "
            f"arena {ram['arena_bytes']:,} + stack reservation {ram['stack_reservation_bytes']:,} + link buffers "
            f"{ram['link_buffer_bytes']:,} ({ram['link_buffers_of']}) + other static {ram['other_static_bytes']:,}; "
            f"budget {ram['budget_bytes']:,} B"
            + (f" (the board's), {ram['model_budget_bytes']:,} B (the model's)" if ram["model_budget_bytes"] else "")
        )
    return result


def add_compile_command(subparsers) -> argparse.ArgumentParser:
    """Registers `hil compile` on the `hil` command's subparsers."""
    command = subparsers.add_parser("compile", help="compile a PyTorch model to C (model.c, model.h)")
    command.add_argument("--model", required=True, help=MODEL_HELP)
    command.add_argument("--input-shape", help=INPUT_SHAPE_HELP)
    command.add_argument("--checkpoint", type=Path, help="weights for the model's architecture (a state_dict file)")
    command.add_argument("--calib", type=Path, help="folder of calibration images or an .npz (default: the model's)")
    command.add_argument("--calib-limit", type=int, default=None, help="use at most this many calibration images")
    command.add_argument("-o", "--output", type=Path, help="folder for model.c and model.h (default: the cache's)")
    command.add_argument("--name", help="model name in the generated code (default: from --model)")
    command.add_argument("--board", default="nucleo-f439zi", help="board whose RAM budget the estimate is against")
    command.add_argument(
        "--bit-widths",
        choices=bit_widths.MODES,
        help="int8: every activation int8; search: choose int8/int16 per tensor within the RAM budget (default: the "
        "model's choice)",
    )
    command.add_argument(
        "--output-measure",
        choices=output_measures.MEASURES,
        help="the SNRs the exponent and bit-width searches raise: outputs, each output's over all its values; faces, "
        "a face detector's loc at the anchors it calls faces and its conf at every anchor (default: the model's "
        "choice)",
    )
    command.add_argument(
        "--exponents",
        choices=exponent_search.MODES,
        help="calibrated: each activation's calibrated max; search: finer where the golden SNR rises "
        "(default: the model's choice)",
    )
    command.add_argument(
        "--stream-input",
        choices=("on", "off"),
        help="on: the model reads its input by rows (hil_input_read) into a row pipeline of its first layers, so "
        "neither the input nor their maps are held whole (default: the model's choice)",
    )
    command.add_argument(
        "--ram-budget",
        type=int,
        help="RAM+CCM bytes the bit-width search must fit (default: the board's or the model's budget, the smaller)",
    )
    command.add_argument(
        "--latency-budget",
        type=int,
        help="instructions per inference the bit-width search's int16 choices may add over int8, by its cost model "
        "(hil/compiler/width_cost.py; default: the model's budget, if it has one)",
    )
    command.set_defaults(handler=_compile)
    return command
