"""What each board of a farm is doing right now: free, locked (by whom), or offline (and why)."""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hil.build.toolchain import QEMU
from hil.farm.farm_file import Farm, FarmBoard
from hil.locks.board_lock import BoardLock, LockHolder


@dataclass(frozen=True)
class BoardState:
    """One board's state; `detail` says why it is offline or who holds it."""

    name: str
    state: str  # "free", "locked" or "offline"
    holder: LockHolder | None = None
    detail: str = ""


def offline_reason(board: FarmBoard, connect_timeout: float = 0.5) -> str | None:
    """Why a board cannot be reached now, or None when it looks reachable.

    A socket:// port is probed with one TCP connect, so call this only for boards nobody holds: an
    emulator's UART takes one client at a time.
    """
    if board.emulate == "qemu":
        return None if shutil.which(QEMU) else f"{QEMU} is not on PATH"
    port = board.serial_port
    if port is None:
        return None  # a labgrid place: its port is known once the place is acquired
    if port.startswith("/dev/"):
        return None if os.path.exists(port) else f"serial port {port} does not exist (unplugged, or renumbered)"
    parts = urlsplit(port)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=connect_timeout):
            return None
    except OSError as e:
        return f"nothing accepts connections at {port}: {e}"


def board_states(farm: Farm, lock_dir: Path | None = None, connect_timeout: float = 0.5) -> dict[str, BoardState]:
    """Every board's state, by board name, in farm file order."""
    states = {}
    for board in farm.boards:
        lock = BoardLock(board.name, lock_dir)
        if lock.locked():
            holder = lock.holder()
            detail = f"locked by {holder.describe()}" if holder else "locked"
            states[board.name] = BoardState(board.name, "locked", holder, detail)
            continue
        reason = offline_reason(board, connect_timeout)
        states[board.name] = BoardState(board.name, "offline" if reason else "free", None, reason or "")
    return states
