"""The `hil` command: compile a model, build firmware around it, run it, list boards, report trends."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import NoReturn

import numpy as np

from hil import __version__, conv_test_model
from hil.bench.profile import add_profile_command
from hil.board_description import available_boards, load_board
from hil.build.firmware_builder import TRANSPORTS, BuildRequest, FirmwareBuilder
from hil.catalog import ModelSpec, model_sources, resolve_model, with_checkpoint
from hil.catalog.resolve import parse_input_shape
from hil.compiler.cli import INPUT_SHAPE_HELP, MODEL_HELP, add_compile_command
from hil.compiler.progress import progress_to
from hil.compiler.saturation import most_saturated
from hil.errors import HilError, TargetError
from hil.exit_codes import NO_DEVICE, TESTS_FAILED, USAGE_ERROR
from hil.farm.board_states import board_states
from hil.farm.farm_file import load_farm
from hil.model_run import (
    describe_outputs,
    draw_outputs,
    load_image_file,
    load_input_file,
    prepare_input,
    real_outputs,
)
from hil.report.merge import merge_runs
from hil.report.trends import DEFAULT_THRESHOLD, build_trends
from hil.target_factory import EMULATORS, FLASHERS, TargetChoice, open_dut


def _spec(args: argparse.Namespace) -> ModelSpec:
    spec = resolve_model(args.model, parse_input_shape(args.input_shape))
    return with_checkpoint(spec, args.checkpoint) if args.checkpoint else spec


def _build(args: argparse.Namespace) -> dict:
    request = BuildRequest(load_board(args.board), model_sources(_spec(args)), args.transport, baud=args.baud)
    image = FirmwareBuilder().build(request)
    if not args.json:
        print(image.footprint.summary())
        print(f"  build id {image.build_id}{' (reused: inputs unchanged)' if image.reused else ''}")
    return image.to_dict()


def _run(args: argparse.Namespace) -> dict:
    spec = _spec(args)
    image = load_image_file(spec, args.image) if args.image else None
    if args.draw and image is None:
        raise HilError(f"--draw {args.draw}: needs the picture the model saw; give it with --image F")
    x = image.x if image else load_input_file(spec, args.input) if args.input else None
    prepared = prepare_input(spec, x, args.seed)
    sources = model_sources(spec)
    with tempfile.TemporaryDirectory(prefix="hil-run-") as workdir:
        choice = TargetChoice(
            args.board,
            args.emulate,
            args.transport,
            probe=args.probe,
            port=args.port,
            baud=args.baud,
            farm=args.farm,
            flasher=args.flasher,
            baud_negotiation=args.baud_negotiation == "on",
        )
        dut = open_dut(choice, sources, Path(workdir))
        try:
            run = dut.infer(prepared.device)
            rate = dut.target.uart_rate
        finally:
            dut.close()
    mismatches = sum(int(np.count_nonzero(o != e)) for o, e in zip(run.outputs, prepared.expected, strict=True))
    result = {
        "board": dut.board.name,
        "emulator": args.emulate,
        "transport": args.transport,
        "uart_baud": None if rate is None else {"baud": rate.baud, "how": rate.how},
        "model": sources.name,
        "model_hash": sources.hash,
        "task": spec.task,
        "device": dut.info.to_dict(),
        "timing": run.timing.to_dict(),
        "stack_high_water_bytes": run.stack_high_water,
        "outputs": [
            {"name": s.name, "shape": list(o.shape), "sha256_prefix": conv_test_model.array_digest(o)}
            for s, o in zip(dut.info.outputs, run.outputs, strict=True)
        ],
        "meaning": describe_outputs(spec, real_outputs(list(run.outputs), dut.info.outputs)),
        "matches_reference": mismatches == 0,
        "mismatched_values": mismatches,
        "footprint": dut.image.footprint.to_dict(),
    }
    if prepared.float_outputs is not None:
        result["float_meaning"] = describe_outputs(spec, prepared.float_outputs)
        result["saturated"] = [asdict(s) for s in prepared.saturated]
    if image is not None:
        result["image"] = {"file": str(args.image), "conversion": image.conversion or "none"}
    if args.draw:
        draw_outputs(image.pixels, result["meaning"], args.draw)
        result["drawing"] = str(args.draw)
    if not args.json:
        if image is not None and image.conversion:
            print(f"{args.image}: {image.conversion}")
        verdict = "equal to the host's computation" if mismatches == 0 else f"{mismatches} values DIFFER"
        print(f"{sources.name} on {dut.board.name} ({args.emulate}, {args.transport}): outputs {verdict}")
        if rate is not None:
            print(f"  UART at {rate}")
        for row in result["meaning"].get("detections", []):
            print(f"  detection {row['box']} score {row['score']:.3f}")
        for row in result["meaning"].get("top_k", []):
            print(f"  class {row['class']} ({row['label']}): {row['score']:.4f}")
        if prepared.saturated:
            print(f"  saturated: {most_saturated(prepared.saturated)}")
        print(f"  time: {run.timing.label}")
        print(f"  stack high-water: {run.stack_high_water:,} B of {dut.info.stack_bytes:,} B")
        print(f"  {dut.image.footprint.summary()}")
    return result


def _farm_boards(farm_path: Path, lock_dir: Path | None, as_json: bool) -> dict:
    farm = load_farm(farm_path)
    states = board_states(farm, lock_dir)
    rows = []
    for board in farm.boards:
        state = states[board.name]
        where = f"labgrid {board.labgrid_place}" if board.labgrid_place else board.serial_port or board.emulate or ""
        rows.append(
            {
                "name": board.name,
                "kind": board.kind,
                "state": state.state,
                "detail": state.detail,
                "where": where,
                "tags": sorted(board.tags),
            }
        )
        if not as_json:
            print(f"{board.name:<16} {board.kind:<15} {state.state:<8} {state.detail:<40} {where}")
    return {"farm": str(farm_path), "boards": rows}


def _boards(args: argparse.Namespace) -> dict:
    if args.farm:
        return _farm_boards(args.farm, args.lock_dir, args.json)
    boards = [load_board(name) for name in available_boards()]
    if not args.json:
        for b in boards:
            target = f"QEMU {b.qemu_machine}" if b.qemu_machine else f"pyOCD {b.pyocd_target}"
            print(f"{b.name:<16} {target:<22} {b.description}")
    return {
        "boards": [
            {
                "name": b.name,
                "qemu_machine": b.qemu_machine,
                "pyocd_target": b.pyocd_target,
                "stand_in_for": b.stand_in_for,
            }
            for b in boards
        ]
    }


def _merge(args: argparse.Namespace) -> dict:
    if args.output is None:
        raise HilError("--merge needs -o OUT: the folder to write the merged run to")
    document = merge_runs([Path(d) for d in args.merge], args.output)
    if not args.json:
        counts = ", ".join(f"{document['outcome'][k]} {k}" for k in ("passed", "failed", "skipped", "error"))
        print(f"merged {len(args.merge)} runs into {args.output}: {counts}, {len(document['rows'])} figures")
    return {"run": str(args.output), "outcome": document["outcome"], "rows": len(document["rows"])}


def _report(args: argparse.Namespace) -> dict:
    if args.merge:
        return _merge(args)
    if args.history is None:
        raise HilError("give the history folder (one sub-folder per run), or --merge RUN... -o OUT")
    page, verdict, runs = build_trends(Path(args.history), args.output, args.baseline, args.threshold, args.accept)
    if not args.json:
        print(f"trends of {len(runs)} runs: {page}")
        against = f"against {verdict.baseline}" if verdict.baseline else "with no comparable baseline"
        print(f"{verdict.latest}: {'FAILED' if verdict.failed else 'passed'} {against}")
        for line in verdict.lines():
            print(f"  {line}")
    return {"page": str(page), "runs": [r.name for r in runs], **verdict.to_dict()}


class UsageErrorParser(argparse.ArgumentParser):
    """argparse that exits with the harness's usage code (hil/exit_codes.py), like pytest's UsageError."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = UsageErrorParser(prog="hil", description=__doc__)
    p.add_argument("--version", action="version", version=f"hil {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the firmware for a board and print its footprint")
    build.add_argument("--board", required=True, choices=available_boards())
    build.set_defaults(handler=_build)
    run = sub.add_parser("run", help="build, load and run the firmware once, and check its outputs")
    run.add_argument("--board", default="nucleo-f439zi", help="board kind, or a board name from --farm")
    run.add_argument("--emulate", choices=EMULATORS, help="run under this emulator instead of on the board")
    run.add_argument("--probe", help="debug probe unique ID of the board (pyOCD)")
    run.add_argument("--port", help="serial port of the board (default: the one of the probe)")
    run.add_argument("--flasher", choices=FLASHERS, default="pyocd", help="what flashes and resets the board")
    run.add_argument("--farm", type=Path, help="farm file: --board may name one of its boards")
    given = run.add_mutually_exclusive_group()
    given.add_argument("--input", type=Path, help="input as a .npy array in the model's own layout")
    given.add_argument("--image", type=Path, help="input as a picture, converted as the model's spec says")
    run.add_argument("--draw", type=Path, help="PNG of the picture the model saw with its detections or top class")
    run.add_argument("--seed", type=int, default=0, help="seed of the default input of a model written in C")
    run.add_argument(
        "--baud-negotiation",
        choices=("on", "off"),
        default="on",
        help="on: after each reset move the UART to the fastest rate of the board's list that passes an echo test",
    )
    run.set_defaults(handler=_run)
    for command in (build, run):
        command.add_argument("--model", default=conv_test_model.NAME, help=MODEL_HELP)
        command.add_argument(
            "--input-shape",
            help=INPUT_SHAPE_HELP,
        )
        command.add_argument("--checkpoint", type=Path, help="weights for the model's architecture (a state_dict)")
        command.add_argument("--transport", default="uart", choices=TRANSPORTS)
        command.add_argument("--baud", type=int, default=None, help="UART baud rate to start at (default: the board's)")
    boards = sub.add_parser("boards", help="list the board kinds, or a farm's boards with their state")
    boards.add_argument("--farm", type=Path, help="farm file: list its boards as free, locked (by whom) or offline")
    boards.add_argument("--lock-dir", type=Path, help="where the board locks live (default $HIL_LOCK_DIR or /tmp)")
    boards.set_defaults(handler=_boards)
    report = sub.add_parser("report", help="trend page of a history of runs; flags regressions of the newest")
    report.add_argument("history", nargs="?", help="folder with one sub-folder per run (each with results.json)")
    report.add_argument(
        "--merge", nargs="+", metavar="RUN", help="merge these run folders (shards) into one run in -o OUT"
    )
    report.add_argument(
        "--baseline",
        help="run to compare the newest with: a run folder, a date prefix (20261101) or last-passing "
        "(default: the newest earlier run on the same target, transport and images)",
    )
    report.add_argument(
        "--accept",
        nargs="+",
        metavar="SERIES",
        help="make tonight the baseline of these series (MODEL/METRIC or a full series id); a series tonight "
        "lacks is retired",
    )
    report.add_argument(
        "--threshold", type=float, default=DEFAULT_THRESHOLD, help="relative change an exact figure may make (0.05)"
    )
    report.add_argument(
        "-o", "--output", type=Path, help="HTML page to write (default: HISTORY/trends.html); with --merge, a folder"
    )
    report.set_defaults(handler=_report)
    compile_command = add_compile_command(sub)
    profile_command = add_profile_command(sub)
    for command in (build, run, boards, report, compile_command, profile_command):
        command.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter(f"hil {args.command}: %(message)s"))
    try:
        with progress_to(stderr):
            result = args.handler(args)
    except HilError as e:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(e), "kind": type(e).__name__}))
        else:
            print(f"hil {args.command}: error: {e}", file=sys.stderr)
        return NO_DEVICE if isinstance(e, TargetError) else USAGE_ERROR
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    if args.command == "run" and not result["matches_reference"]:
        return TESTS_FAILED
    if args.command == "report" and result.get("failed"):
        return TESTS_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
