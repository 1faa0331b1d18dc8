"""The device under test: a target running a built firmware image, spoken to in tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hil.board_description import BoardDescription, qemu_stand_in
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder, FirmwareImage
from hil.errors import HilError, TargetError
from hil.link.messages import DeviceInfo, InferenceTiming
from hil.model_sources import ModelSources
from hil.targets.base import Target
from hil.targets.qemu import QemuSemihostingTarget, QemuUartTarget

EMULATORS = ("qemu",)


@dataclass(frozen=True)
class DeviceRun:
    """One inference on the device: its outputs as arrays, its time, its stack."""

    outputs: tuple[np.ndarray, ...]
    timing: InferenceTiming
    stack_high_water: int


class Dut:
    """A started target with the firmware it runs and what the firmware said about itself."""

    def __init__(self, target: Target, image: FirmwareImage, info: DeviceInfo) -> None:
        self.target = target
        self.image = image
        self.info = info

    @property
    def board(self) -> BoardDescription:
        return self.target.board

    def infer(self, inputs: list[np.ndarray]) -> DeviceRun:
        if len(inputs) != len(self.info.inputs):
            raise HilError(f"the model takes {len(self.info.inputs)} inputs, got {len(inputs)}")
        payloads = [spec.to_bytes(array) for spec, array in zip(self.info.inputs, inputs, strict=True)]
        outcome = self.target.infer(payloads)
        if len(outcome.outputs) != len(self.info.outputs):
            raise TargetError(
                f"the device returned {len(outcome.outputs)} outputs, its INFO announced {len(self.info.outputs)}"
            )
        outputs = tuple(spec.from_bytes(data) for spec, data in zip(self.info.outputs, outcome.outputs, strict=True))
        return DeviceRun(outputs, outcome.summary.timing, outcome.summary.stack_high_water)

    def time_runs(self, count: int) -> list[InferenceTiming]:
        """Timings of count more runs on the inputs of the last infer (the inputs are not sent again)."""
        summaries = [self.target.rerun() for _ in range(count)]
        failed = [s.status for s in summaries if s.status != 0]
        if failed:
            raise TargetError(f"model_run returned {failed[0]} while timing runs")
        return [s.timing for s in summaries]

    def close(self) -> None:
        self.target.stop()


def resolve_board(board: str, emulate: str | None) -> BoardDescription:
    """The board to build for: the named one, or its QEMU stand-in when emulating."""
    if emulate is None:
        raise TargetError(
            f"no target for board '{board}' without an emulator: the pyOCD board target is not part of the "
            "harness yet; run with --emulate qemu"
        )
    if emulate not in EMULATORS:
        raise TargetError(f"emulator '{emulate}' is not available here; expected one of {', '.join(EMULATORS)}")
    return qemu_stand_in(board)


def open_dut(
    board: str,
    emulate: str | None,
    model: ModelSources,
    workdir: Path,
    *,
    transport: str = "uart",
    builder: FirmwareBuilder | None = None,
    run_timeout: float = 120.0,
) -> Dut:
    """Builds the firmware for the model, starts it on the target, and checks it answers."""
    description = resolve_board(board, emulate)
    image = (builder or FirmwareBuilder()).build(BuildRequest(description, model, transport))
    target: Target
    if transport == "uart":
        target = QemuUartTarget(description, image.elf, workdir, run_timeout=run_timeout)
    else:
        target = QemuSemihostingTarget(description, image.elf, workdir, run_timeout=run_timeout)
    info = target.start()
    if info.model_hash != model.hash:
        target.stop()
        raise TargetError(f"the device runs model hash {info.model_hash}, expected {model.hash} ({model.name})")
    return Dut(target, image, info)
