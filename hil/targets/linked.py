"""What every target reached over the framed link shares: inference and reruns through its
DeviceLink, the check that the device runs the image the host built, and link errors turned into
target errors that carry the target's own context (an emulator's output, say)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import serial

from hil.build.firmware_builder import read_build_id
from hil.errors import DeviceError, LinkError, TargetError
from hil.link.baud import settle_uart
from hil.link.device_link import DeviceLink, InferenceOutcome, inputs_crc, open_port
from hil.link.messages import ERR_INPUT_MISMATCH, DeviceInfo, RunSummary
from hil.targets.base import Target

LOG = logging.getLogger(__name__)


def connect_when_listening(
    url: str, baud: int, alive: Callable[[], bool], timeout: float, poll_s: float = 0.05
) -> serial.SerialBase | None:
    """The port at url once the emulator behind it listens; None if the emulator exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            return open_port(url, baud)
        except LinkError:
            time.sleep(poll_s)
    return None


class LinkedTarget(Target):
    """A target whose firmware answers over a DeviceLink."""

    elf: Path
    run_timeout: float
    link: DeviceLink | None = None
    baud_negotiation: bool = True
    _last_inputs: list[bytes] | None = None

    def _context(self) -> str:
        """Text that helps explain a link failure (an emulator's output); empty by default."""
        return ""

    def _with_context(self, error: Exception) -> TargetError:
        context = self._context()
        return TargetError(f"{error}\n{context}" if context else str(error))

    def _open_link(
        self, port: serial.SerialBase, name: str, where: str, reply_timeout: float, attempts: int
    ) -> DeviceInfo:
        """The link on an open port, INFO, and the image check; the target is stopped if any of them fails."""
        self.link = DeviceLink(port, name, reply_timeout, attempts)
        try:
            info = self.link.info()
            self._check_image(info, where)
        except LinkError as e:
            self.stop()
            raise TargetError(f"{where} did not answer INFO: {e}\n{self._context()}".rstrip()) from e
        except TargetError:
            self.stop()
            raise
        return info

    def _settle_uart(self, start: int) -> None:
        """Moves the UART link up from start, the rate the firmware starts at, to the fastest of the board's
        `[uart] rates` that passes (hil.link.baud) unless negotiation is off; logs and keeps the rate used.
        A link lost on the way is a TargetError; the caller decides whether to stop or recover."""
        assert self.link is not None
        try:
            self.uart_rate = settle_uart(self.link, start, self.board.baud_rates, self.baud_negotiation)
        except LinkError as e:
            raise self._with_context(e) from e
        LOG.info("%s: UART at %s", self.link.name, self.uart_rate)

    def _check_image(self, info: DeviceInfo, where: str) -> None:
        """Refuses a device that runs another build than the ELF the host built."""
        expected = read_build_id(self.elf)
        if info.build_id != expected:
            raise TargetError(
                f"stale firmware: {where} runs build {info.build_id} (board {info.board}), "
                f"the host built {expected} ({self.elf}); load that image first"
            )

    def infer(self, inputs: list[bytes]) -> InferenceOutcome:
        if self.link is None:
            raise TargetError(f"{type(self).__name__}.infer called before start()")
        self._last_inputs = list(inputs)
        try:
            return self.link.infer(inputs, self.run_timeout)
        except LinkError as e:
            return self._recover(inputs, e)

    def rerun(self) -> RunSummary:
        """Runs again on the inputs the device holds; after a recovery they are sent again."""
        if self.link is None or self._last_inputs is None:
            raise TargetError(f"{type(self).__name__}.rerun needs a start() and an infer() before it")
        try:
            return self._run_on_last_inputs(self.link)
        except LinkError as e:
            return self._recover(self._last_inputs, e).summary

    def _recover(self, inputs: list[bytes], error: LinkError) -> InferenceOutcome:
        """What a link failure becomes: an error carrying the target's context, unless the target can bring its
        device back (a board's reset and reflash, an emulator's restart) and run the inputs again."""
        raise self._with_context(error) from error

    def _run_on_last_inputs(self, link: DeviceLink) -> RunSummary:
        """RUN on the inputs of the last infer (streamed inputs are streamed again). A model whose arena plan
        reuses the input's bytes has overwritten them (the device answers INPUT_MISMATCH): they are sent again,
        then RUN once more."""
        assert self._last_inputs is not None
        held, streams = link.split_inputs(self._last_inputs)
        crc = inputs_crc([data for _, data in held])
        try:
            return link.run(crc, self.run_timeout, streams)
        except DeviceError as e:
            if e.code != ERR_INPUT_MISMATCH:
                raise
        for index, data in held:
            link.write_input(index, data)
        return link.run(crc, self.run_timeout, streams)

    def _close_link(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
