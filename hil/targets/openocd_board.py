"""A real board flashed, verified and reset by OpenOCD (`--hil-flasher openocd`), reached over its ST-LINK's
virtual COM port, or for rtt through an OpenOCD that stays attached and reads and writes the rings over its Tcl
port: PyOcdBoardTarget's flow (image and chip checks, the probe's own port or memory, reset then reflash when the
board hangs) with OpenOcdProbeDriver acting."""

from __future__ import annotations

from hil.errors import TargetError
from hil.targets.board_errors import NoFreeProbeError, NoProbeError
from hil.targets.openocd_driver import OpenOcdProbeDriver
from hil.targets.probe_selection import ProbeInfo, select_probe
from hil.targets.pyocd_board import PyOcdBoardTarget
from hil.targets.registry import TargetRequest, register_target

NO_STLINK_HINT = (
    "no ST-LINK is connected (none of the serial ports has ST's USB vendor ID 0483): check the USB cable "
    "(the ST-LINK's USB, CN1 on a Nucleo-144) and `lsusb | grep 0483`"
)


class OpenOcdBoardTarget(PyOcdBoardTarget):
    """The UART or rtt build on a real board, flashed through OpenOCD with the board's OpenOCD config."""

    def _check_image(self) -> None:
        if not self.board.openocd_config:
            raise TargetError(
                f"board '{self.board.name}' has no openocd_config in its board.toml "
                '(the OpenOCD config of the board, e.g. openocd_config = "board/st_nucleo_f4.cfg")'
            )
        super()._check_image()

    def _choose_probe(self, probes: list[ProbeInfo]) -> ProbeInfo:
        """The probe asked for, else the first free ST-LINK: OpenOCD cannot tell which board a probe sits on, so
        the DEV_ID check after connecting is what refuses a probe wired to another board."""
        if self.probe_uid is not None:
            return select_probe(probes, self.board.pyocd_target or "", self.probe_uid, self._claim)
        if not probes:
            raise NoProbeError(NO_STLINK_HINT)
        for probe in probes:
            if self._claim(probe):
                return probe
        raise NoFreeProbeError(f"every ST-LINK is in use by another process: {', '.join(p.unique_id for p in probes)}")


@register_target("openocd")
def _openocd_board(request: TargetRequest) -> OpenOcdBoardTarget:
    return OpenOcdBoardTarget(
        request.description,
        request.elf,
        probe_uid=request.probe,
        serial_port=request.port,
        transport=request.transport,
        driver=OpenOcdProbeDriver(request.description.openocd_config or ""),
        lock_dir=request.lock_dir,
        run_timeout=request.run_timeout,
        baud_negotiation=request.baud_negotiation,
        # `program ... verify` has OpenOCD compare flash with the ELF; reading it back again through
        # one-shot runs would double the time for nothing.
        verify=False,
    )
