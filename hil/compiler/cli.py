"""`hil compile`: a model (catalog name or checkpoint) to model.c/model.h, with a per-layer summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hil.compiler import live_set
from hil.compiler.calibrate import directory_images, synthetic_images
from hil.compiler.pipeline import CompiledModel, compile_model
from hil.compiler.schedule import Step
from hil.errors import HilError

REGISTRY_NAMES = {"rnnpool_face_m4": "m4", "rnnpool_face_qvga": "qvga", "m4": "m4", "qvga": "qvga"}


def _load(model: str):
    """(registry name, torch model) for a catalog name or an EdgeML checkpoint path (M4 layout unless 'qvga'
    appears in its file name)."""
    from models.registry import load_model

    if model in REGISTRY_NAMES:
        return REGISTRY_NAMES[model], load_model(REGISTRY_NAMES[model])
    path = Path(model)
    if not path.is_file():
        raise HilError(f"--model {model}: neither a model name ({', '.join(REGISTRY_NAMES)}) nor a checkpoint file")
    kind = "qvga" if "qvga" in path.name.lower() else "m4"
    return kind, load_model(kind, checkpoint=path)


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


def ram_estimate(arena_bytes: int, board_name: str) -> dict:
    """What the firmware around this arena will reserve in RAM and CCM, before it is linked: the stack reservation
    and the largest transport's link buffers are the builder's figures (test_cases/test_budgets.py checks them
    against the linked ELF), against the board's RAM budget."""
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
    }


def _compile(args: argparse.Namespace) -> dict:
    import torch

    kind, model = _load(args.model)
    calibration = directory_images(args.calib, args.calib_limit) if args.calib else synthetic_images(4)
    name = args.name or f"rnnpool_face_{kind}"
    compiled = compile_model(model, torch.zeros(1, 1, 240, 320), calibration, args.output, name, ["loc", "conf"])
    rows = layer_summary(compiled)
    sets = live_set.live_sets(compiled.memory, compiled.steps)
    result = {
        "model": name,
        "hash": compiled.emitted.sources.hash,
        "directory": str(args.output),
        "arena_bytes": compiled.memory.arena_bytes,
        "arena_lower_bound_bytes": compiled.memory.lower_bound,
        "weight_flash_bytes": compiled.emitted.flash_bytes,
        "macs": compiled.qgraph.macs,
        "inputs": [s.__dict__ for s in compiled.emitted.sources.inputs],
        "outputs": [s.__dict__ for s in compiled.emitted.sources.outputs],
        "layers": rows,
        "live_sets": [s.to_dict() for s in sets],
        "ram": ram_estimate(compiled.memory.arena_bytes, args.board),
    }
    if not args.json:
        print(f"{name} -> {args.output} (hash {result['hash']})")
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
        print(live_set.table(sets))
        ram = result["ram"]
        print(
            f"RAM+CCM reserved on {args.board} (estimate; `hil build` reads the ELF): {ram['total_bytes']:,} B = "
            f"arena {ram['arena_bytes']:,} + stack reservation {ram['stack_reservation_bytes']:,} + link buffers "
            f"{ram['link_buffer_bytes']:,} ({ram['link_buffers_of']}) + other static {ram['other_static_bytes']:,}; "
            f"budget {ram['budget_bytes']:,} B"
        )
    return result


def add_compile_command(subparsers) -> argparse.ArgumentParser:
    """Registers `hil compile` on the `hil` command's subparsers."""
    command = subparsers.add_parser("compile", help="compile a face model to C (model.c, model.h)")
    command.add_argument("--model", required=True, help="rnnpool_face_m4, rnnpool_face_qvga, or a checkpoint path")
    command.add_argument("--calib", type=Path, help="folder of calibration images (default: 4 synthetic images)")
    command.add_argument("--calib-limit", type=int, default=None, help="use at most this many calibration images")
    command.add_argument("-o", "--output", type=Path, required=True, help="folder for model.c and model.h")
    command.add_argument("--name", help="model name in the generated code (default: from --model)")
    command.add_argument("--board", default="nucleo-f439zi", help="board whose RAM budget the estimate is against")
    command.set_defaults(handler=_compile)
    return command
