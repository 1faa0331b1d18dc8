"""The interface every target offers: start the firmware, run inferences on raw bytes, stop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

from hil.board_description import BoardDescription
from hil.link.baud import UartRate
from hil.link.device_link import InferenceOutcome
from hil.link.messages import DeviceInfo, RunSummary


class Target(ABC):
    """A firmware image running somewhere, reachable from the host."""

    board: BoardDescription
    # The UART link's rate once started, for the log and the run's report; None where no rate was chosen.
    uart_rate: UartRate | None = None

    @abstractmethod
    def start(self) -> DeviceInfo:
        """Loads and starts the firmware; returns what it says about itself."""

    @abstractmethod
    def infer(self, inputs: list[bytes]) -> InferenceOutcome:
        """One inference on the exact bytes of each input tensor."""

    @abstractmethod
    def rerun(self) -> RunSummary:
        """Runs again on the inputs of the last infer, without moving them or the outputs: for timing."""

    @abstractmethod
    def stop(self) -> None:
        """Stops the firmware and frees what the target holds; safe to call twice."""

    def output_log(self) -> Path | None:
        """The file where the emulator or probe writes its own output, if it has one (for the device log)."""
        return None

    def __enter__(self) -> Target:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
