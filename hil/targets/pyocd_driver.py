"""PyOcdProbeDriver: the only code that calls pyOCD. It stays thin so that PyOcdBoardTarget, which holds
the logic, runs in tests against a fake of the same methods."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hil.errors import TargetError
from hil.targets.probe_selection import ProbeInfo
from hil.targets.pyocd_memory import PyOcdMemoryAccess


class PyOcdProbeDriver:
    """The only code that calls pyOCD: list, open, program, read back, reset and run, close."""

    def __init__(self, frequency: int | None = None, connect_mode: str | None = None) -> None:
        """
        Args:
            frequency: SWD clock in Hz; None keeps pyOCD's default.
            connect_mode: pyOCD's connect_mode ("halt", "under-reset", ...); "under-reset" reaches a
                chip whose firmware disabled the debug pins or sleeps.
        """
        self.frequency = frequency
        self.connect_mode = connect_mode
        self._session = None
        self._uid = ""

    def list_probes(self) -> list[ProbeInfo]:
        from pyocd.core.helpers import ConnectHelper

        return [self._describe(p) for p in ConnectHelper.get_all_connected_probes(blocking=False)]

    @staticmethod
    def _describe(probe) -> ProbeInfo:
        from pyocd.core import exceptions

        try:
            board = probe.associated_board_info
        except exceptions.Error:
            board = None  # an inaccessible probe is still listed, so the error can name it
        return ProbeInfo(
            unique_id=probe.unique_id,
            description=probe.description,
            vendor=probe.vendor_name,
            product=probe.product_name,
            board_name=board.name if board else None,
            target=board.target if board else None,
        )

    def open(self, unique_id: str, target: str) -> None:
        from pyocd.core.helpers import ConnectHelper

        options: dict = {"target_override": target}
        if self.frequency:
            options["frequency"] = self.frequency
        if self.connect_mode:
            options["connect_mode"] = self.connect_mode
        self._uid = unique_id
        self._call(f"connect to target {target}", self._open, ConnectHelper, unique_id, options)

    def _open(self, helper, unique_id: str, options: dict) -> None:
        session = helper.session_with_chosen_probe(blocking=False, unique_id=unique_id, return_first=True, **options)
        if session is None:
            raise TargetError(f"pyOCD found no probe {unique_id} when opening it (unplugged meanwhile?)")
        session.open()
        self._session = session

    def flash(self, elf: Path) -> None:
        from pyocd.flash.file_programmer import FileProgrammer

        self._call(f"program {elf}", lambda: FileProgrammer(self._require()).program(str(elf), file_format="elf"))

    def read_memory(self, address: int, size: int) -> bytes:
        return self._call(
            f"read {size} bytes at 0x{address:08x}",
            lambda: bytes(self._require().target.read_memory_block8(address, size)),
        )

    def rtt_memory(self) -> PyOcdMemoryAccess:
        """The running target's memory for the rtt transport (pyOCD's read/write_memory_block8)."""
        from pyocd.core import exceptions

        return PyOcdMemoryAccess(self._require().target, f"probe {self._uid}", (exceptions.Error, OSError))

    def reset(self) -> None:
        self._call("reset the target", lambda: self._require().target.reset())

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            self._call("close the session", session.close)

    def _require(self):
        if self._session is None:
            raise TargetError("PyOcdProbeDriver used before open()")
        return self._session

    def _call(self, what: str, function: Callable, *args):
        from pyocd.core import exceptions

        try:
            return function(*args)
        except (exceptions.Error, OSError) as e:
            raise TargetError(f"pyOCD could not {what} through probe {self._uid or '?'}: {e}") from e
