"""A board on a labgrid place: acquire the place, flash the image through the place's debugger when it has one
(labgrid's OpenOCDDriver on the exporter's host), then talk to the firmware over the place's exported serial
port. The place itself is injected (hil.farm.labgrid_place.LabgridPlace does labgrid), so this module needs
only the small interface below."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from hil.board_description import BoardDescription
from hil.errors import TargetError
from hil.link.messages import DeviceInfo
from hil.targets.registry import TargetRequest, register_target
from hil.targets.serial_target import SerialPortTarget

LOG = logging.getLogger(__name__)


class RemotePlace(Protocol):
    """What the target needs from a place on a lab's coordinator."""

    place: str

    def acquire(self, timeout: float) -> None: ...
    def release(self) -> None: ...
    def has_debugger(self) -> bool: ...
    def flash(self, elf: Path, openocd_config: str) -> None: ...
    def serial_url(self) -> str: ...


class LabgridBoardTarget(SerialPortTarget):
    """The firmware on a remote board: flashed through the place's debugger if it has one, reached over its port."""

    def __init__(
        self, board: BoardDescription, elf: Path, place: RemotePlace, *, acquire_timeout: float = 600.0, **link
    ) -> None:
        super().__init__(board, elf, "", **link)
        self.place = place
        self.acquire_timeout = acquire_timeout
        self.flashed = False

    def start(self) -> DeviceInfo:
        self.place.acquire(timeout=self.acquire_timeout)
        try:
            if self.place.has_debugger():
                if not self.board.openocd_config:
                    raise TargetError(
                        f"labgrid place '{self.place.place}' has a debugger, but board '{self.board.name}' names no "
                        "openocd_config (board.toml, or the farm file's openocd_config for this board)"
                    )
                LOG.info("flashing %s through labgrid place %s", self.elf, self.place.place)
                self.place.flash(self.elf, self.board.openocd_config)
                self.flashed = True
            self.url = self.place.serial_url()
            return super().start()
        except BaseException:
            self.place.release()
            raise

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.place.release()


@register_target("labgrid")
def _labgrid_board(request: TargetRequest) -> LabgridBoardTarget:
    if request.place is None:
        raise TargetError("target kind 'labgrid' needs a place (the farm file's labgrid_place)")
    return LabgridBoardTarget(
        request.description,
        request.elf,
        request.place,
        acquire_timeout=request.acquire_timeout,
        run_timeout=request.run_timeout,
        baud_negotiation=request.baud_negotiation,
    )
