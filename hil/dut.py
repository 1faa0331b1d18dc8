"""The device under test: a target running a built firmware image, spoken to in tensors."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from hil.board_description import BoardDescription
from hil.build.firmware_builder import FirmwareImage
from hil.errors import HilError, TargetError
from hil.link.messages import DeviceInfo, InferenceTiming
from hil.targets.base import Target


@dataclass(frozen=True)
class DeviceRun:
    """One inference on the device: its outputs as arrays, its time, its stack."""

    outputs: tuple[np.ndarray, ...]
    timing: InferenceTiming
    stack_high_water: int


class Dut:
    """A started target with the firmware it runs and what the firmware said about itself."""

    def __init__(
        self,
        target: Target,
        image: FirmwareImage,
        info: DeviceInfo,
        resources: ExitStack | None = None,
        farm_board: str | None = None,
    ) -> None:
        self.target = target
        self.image = image
        self.info = info
        self.farm_board = farm_board
        self._resources = resources or ExitStack()

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
        """Stops the target, then releases its board lock and labgrid place, if any."""
        self._resources.close()
