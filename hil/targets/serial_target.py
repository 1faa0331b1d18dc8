"""A device that already runs the firmware, reached only through a serial port or socket: a board
flashed elsewhere, or a port a labgrid exporter publishes. Nothing is loaded; the build ID proves
the device runs the image the host built."""

from __future__ import annotations

import zlib
from pathlib import Path

from hil.board_description import BoardDescription
from hil.build.firmware_builder import read_build_id
from hil.errors import LinkError, TargetError
from hil.link.device_link import DeviceLink, InferenceOutcome, open_port
from hil.link.messages import DeviceInfo, RunSummary
from hil.targets.base import Target


class SerialPortTarget(Target):
    """The link to a running device at a pyserial URL or device path."""

    def __init__(
        self,
        board: BoardDescription,
        elf: Path,
        url: str,
        *,
        baud: int | None = None,
        reply_timeout: float = 2.0,
        run_timeout: float = 120.0,
        attempts: int = 5,
    ) -> None:
        self.board = board
        self.elf = elf
        self.url = url
        self.baud = baud or board.baud
        self.reply_timeout = reply_timeout
        self.run_timeout = run_timeout
        self.attempts = attempts
        self.link: DeviceLink | None = None
        self.info: DeviceInfo | None = None
        self._inputs_crc: int | None = None

    def start(self) -> DeviceInfo:
        self.link = DeviceLink(open_port(self.url, self.baud), self.url, self.reply_timeout, self.attempts)
        try:
            self.info = self.link.info()
        except LinkError as e:
            self.stop()
            raise TargetError(f"the device at {self.url} did not answer INFO: {e}") from e
        expected = read_build_id(self.elf)
        if self.info.build_id != expected:
            self.stop()
            raise TargetError(
                f"stale firmware at {self.url}: the device runs build {self.info.build_id} "
                f"(board {self.info.board}), the host built {expected} ({self.elf}); load that image first"
            )
        return self.info

    def infer(self, inputs: list[bytes]) -> InferenceOutcome:
        if self.link is None:
            raise TargetError("SerialPortTarget.infer called before start()")
        outcome = self.link.infer(inputs, self.run_timeout)
        crc = 0
        for data in inputs:
            crc = zlib.crc32(data, crc)
        self._inputs_crc = crc
        return outcome

    def rerun(self) -> RunSummary:
        if self.link is None or self._inputs_crc is None:
            raise TargetError("SerialPortTarget.rerun needs a start() and an infer() before it")
        return self.link.run(self._inputs_crc, self.run_timeout)

    def stop(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
