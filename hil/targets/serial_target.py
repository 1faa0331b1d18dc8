"""A device that already runs the firmware, reached only through a serial port or socket: a board
flashed elsewhere, or a port a labgrid exporter publishes. Nothing is loaded; the build ID proves
the device runs the image the host built."""

from __future__ import annotations

from pathlib import Path

from hil.board_description import BoardDescription
from hil.errors import TargetError
from hil.link.device_link import open_port
from hil.link.messages import DeviceInfo
from hil.targets.linked import LinkedTarget
from hil.targets.registry import TargetRequest, register_target


class SerialPortTarget(LinkedTarget):
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
        baud_negotiation: bool = True,
    ) -> None:
        self.board = board
        self.elf = elf
        self.url = url
        self.baud = baud or board.baud
        self.reply_timeout = reply_timeout
        self.run_timeout = run_timeout
        self.attempts = attempts
        self.baud_negotiation = baud_negotiation
        self.info: DeviceInfo | None = None

    def start(self) -> DeviceInfo:
        port = open_port(self.url, self.baud)
        self.info = self._open_link(port, self.url, f"the device at {self.url}", self.reply_timeout, self.attempts)
        try:
            self._settle_uart(self.baud)
        except TargetError:
            self.stop()
            raise
        return self.info

    def stop(self) -> None:
        self._close_link()


@register_target("serial-port")
def _serial_port(request: TargetRequest) -> SerialPortTarget:
    if request.port is None:
        raise TargetError("target kind 'serial-port' needs a port (--hil-port or the farm file's serial_port)")
    return SerialPortTarget(
        request.description,
        request.elf,
        request.port,
        run_timeout=request.run_timeout,
        baud_negotiation=request.baud_negotiation,
    )
