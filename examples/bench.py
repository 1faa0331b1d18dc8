"""The four examples end to end: compile, build for nucleo-f439zi (flash, static RAM), run the QEMU stand-in's
semihosting build (mps2-an386: same core, same memory sizes), and check host C == golden == QEMU bit for bit.
Prints per model: parameters, MACs, flash, RAM, arena, stack high-water, instructions per MAC and SNR against float
(worst and mean over the held-out inputs, each input read at its worst output).

    .venv/bin/python -m examples.bench [--models kws_dscnn,vww,resnet8,autoencoder] [--inputs 4] [--bit-widths search]
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hil.catalog import ModelSpec

EXAMPLES = ("kws_dscnn", "vww", "resnet8", "autoencoder", "kws_crnn")


@dataclass(frozen=True)
class ExampleRun:
    spec: ModelSpec
    parameters: int
    macs: int
    flash_bytes: int  # nucleo-f439zi build
    ram_bytes: int  # nucleo-f439zi build: static RAM + CCM (arena, stack reservation, link buffers)
    arena_bytes: int
    stack_high_water: int
    instructions_per_mac: float
    snr_db: float  # worst over the inputs, golden (= device) output against the float model
    snr_db_mean: float  # mean over the inputs of each one's worst output: one hard input does not hide the rest
    bit_exact: bool  # host C == golden == QEMU on every input


def spec_of(name: str) -> ModelSpec:
    return importlib.import_module(f"examples.{name}").build()


def run_example(spec: ModelSpec, workdir: Path, inputs: int = 4) -> ExampleRun:
    """Compiles, builds and runs one example (see the module docstring)."""
    from hil.board_description import load_board
    from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
    from hil.compiler import float_executor, golden
    from hil.compiler.host_model import HostModel
    from hil.compiler.ir import to_graph_layout
    from hil.compiler.pipeline import compile_model
    from hil.targets.qemu import QemuSemihostingTarget

    model = spec.build()
    calibration = [to_graph_layout(x[None]) for x in spec.calibration(spec.calibration_count)]
    compiled = compile_model(
        model,
        torch.zeros(spec.input_shape),
        calibration,
        workdir / "c",
        spec.name,
        list(spec.output_names),
        spec.bit_widths,
        spec.bit_width_arena_budget,
    )
    sources, qgraph = compiled.emitted.sources, compiled.qgraph
    nucleo = FirmwareBuilder(workdir / "fw").build(BuildRequest(load_board("nucleo-f439zi"), sources, "uart"))
    qemu_board = load_board("mps2-an386")
    image = FirmwareBuilder(workdir / "fw").build(BuildRequest(qemu_board, sources, "semihosting"))
    target = QemuSemihostingTarget(qemu_board, image.elf, workdir / "run", run_timeout=600)
    target.start()
    host = HostModel(sources, build_root=workdir / "host")
    tests = _held_out(spec, inputs)
    exact, per_input, ipm, stack = True, [], 0.0, 0
    for x in tests:
        x = to_graph_layout(x[None])
        q = qgraph.quantize_input(x)
        expected = compiled.golden(x)
        outcome = target.infer([sources.inputs[0].to_bytes(q)])
        device = [s.from_bytes(d) for s, d in zip(sources.outputs, outcome.outputs, strict=True)]
        exact &= all(np.array_equal(a, b) for a, b in zip(host.run([q]), expected, strict=True))
        exact &= all(np.array_equal(a, b) for a, b in zip(device, expected, strict=True))
        timing = outcome.summary.timing
        ipm = timing.ticks * (1e9 / timing.timer_hz) / qgraph.macs  # -icount shift=0: 1 instruction per ns
        stack = max(stack, outcome.summary.stack_high_water)
        references = float_executor.outputs(compiled.graph, [x])
        snrs = [
            golden.snr_db(f, qgraph.dequantize(t, e))
            for t, f, e in zip(qgraph.outputs, references, expected, strict=True)
        ]
        per_input.append(min(snrs))
    footprint = nucleo.footprint
    return ExampleRun(
        spec,
        sum(p.numel() for p in model.parameters()),
        qgraph.macs,
        footprint.flash_bytes,
        footprint.ram_bytes + footprint.ccm_bytes,
        sources.arena_bytes,
        stack,
        ipm,
        min(per_input),
        float(np.mean(per_input)),
        exact,
    )


def _held_out(spec: ModelSpec, count: int) -> np.ndarray:
    """Inputs the calibration did not see: the calibration generator's inputs beyond its calibration_count."""
    return spec.calibration(spec.calibration_count + count)[spec.calibration_count :]


def main(argv: list[str] | None = None) -> int:
    from hil.compiler.cli import bit_width_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(EXAMPLES))
    parser.add_argument("--inputs", type=int, default=4)
    parser.add_argument(
        "--bit-widths",
        choices=("int8", "search"),
        help="int8 everywhere, or int16 where the search finds it pays within the board's RAM (default: the model's)",
    )
    args = parser.parse_args(argv)
    if args.inputs < 1:
        parser.error(f"--inputs {args.inputs}: expected 1 or more held-out inputs")
    names = args.models.split(",")
    unknown = [name for name in names if name not in EXAMPLES]
    if unknown:
        parser.error(f"--models: no example {', '.join(unknown)}; expected some of {', '.join(EXAMPLES)}")
    header = (
        f"{'model':12s} {'params':>8s} {'MACs':>10s} {'flash B':>9s} {'RAM B':>8s} {'arena B':>8s} "
        f"{'stack B':>7s} {'instr/MAC':>9s} {'SNR dB worst':>12s} {'mean':>5s}  host C == golden == QEMU"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            spec, _ = bit_width_spec(spec_of(name), args.bit_widths, "nucleo-f439zi", None)
            r = run_example(spec, Path(tmp) / name, args.inputs)
            exact = "yes" if r.bit_exact else "NO"
            print(
                f"{name:12s} {r.parameters:8d} {r.macs:10d} {r.flash_bytes:9d} {r.ram_bytes:8d} {r.arena_bytes:8d} "
                f"{r.stack_high_water:7d} {r.instructions_per_mac:9.2f} {r.snr_db:12.1f} {r.snr_db_mean:5.1f}  {exact}"
            )
    print("flash and RAM: the nucleo-f439zi build (RAM = static RAM + CCM); instructions per MAC: QEMU -icount shift=0")
    print(f"SNR: golden (= device) against float over {args.inputs} held-out inputs, each at its worst output")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
