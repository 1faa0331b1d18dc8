"""BoardAllocator: hands each pytest-xdist worker a free board of the kind and tags it needs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from hil.farm.board_states import board_states, offline_reason
from hil.farm.farm_file import Farm, FarmBoard, FarmFileError
from hil.locks.board_lock import BoardBusyError, BoardLock


@dataclass
class Allocation:
    """A board this process holds until release()."""

    board: FarmBoard
    lock: BoardLock

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> Allocation:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


class BoardAllocator:
    """Picks a free, reachable board of a farm, waiting up to a timeout."""

    def __init__(
        self,
        farm: Farm,
        lock_dir: Path | None = None,
        *,
        owner: str = "",
        poll_interval: float = 0.1,
        connect_timeout: float = 0.5,
    ) -> None:
        """
        Args:
            farm: the loaded farm file.
            lock_dir: shared by every worker of the run; default `default_lock_dir()`.
            owner: written into the lock, e.g. the xdist worker id ("gw0").
            poll_interval: seconds between rounds while every board is busy.
            connect_timeout: seconds for the reachability check of socket:// ports.
        """
        self.farm = farm
        self.lock_dir = lock_dir
        self.owner = owner
        self.poll_interval = poll_interval
        self.connect_timeout = connect_timeout

    def allocate(self, kind: str, tags: Iterable[str] = (), timeout: float = 60.0) -> Allocation:
        """Locks the first free, reachable board of `kind` that has every tag.

        Raises:
            FarmFileError: no board of the farm fits at all.
            BoardBusyError: every fitting board stayed locked or offline for `timeout` seconds.
        """
        tags = tuple(tags)
        candidates = self.farm.matching(kind, tags)
        if not candidates:
            offered = ", ".join(f"{b.name} ({b.kind}, tags {sorted(b.tags)})" for b in self.farm.boards)
            raise FarmFileError(
                f"{self.farm.path}: no board of kind '{kind}' with tags {list(tags)}; boards: {offered}"
            )
        deadline = time.monotonic() + timeout
        while True:
            offline = 0
            for board in candidates:
                lock = BoardLock(board.name, self.lock_dir, owner=self.owner)
                if not lock.try_acquire():
                    continue
                # Checked while holding the lock, so the probe never disturbs another worker's session.
                if offline_reason(board, self.connect_timeout) is None:
                    return Allocation(board, lock)
                lock.release()
                offline += 1
            remaining = deadline - time.monotonic()
            if offline == len(candidates) or remaining <= 0:
                raise BoardBusyError(self._busy_message(candidates, kind, tags, timeout, offline == len(candidates)))
            time.sleep(min(self.poll_interval, remaining))

    def _busy_message(
        self, candidates: list[FarmBoard], kind: str, tags: tuple[str, ...], timeout: float, all_offline: bool
    ) -> str:
        states = board_states(self.farm, self.lock_dir, self.connect_timeout)
        lines = [f"  {b.name}: {states[b.name].state} {states[b.name].detail}".rstrip() for b in candidates]
        what = "every board is offline" if all_offline else f"none became free in {timeout:g} s"
        return f"no board of kind '{kind}' with tags {list(tags)} for {self.owner or 'this process'}: {what}\n" + (
            "\n".join(lines)
        )
