"""BoardLock: one process at a time per board on this host, with `fcntl.flock` on a lock file per board.

Why flock: the kernel drops the lock when the holder's file is closed, so a worker that crashes or is
killed never leaves a board locked. The holder writes its pid, host and start time into the file,
only so that a waiting process can say who holds the board.

What "stale" means here. A lock file whose recorded holder is dead but whose flock is free is the normal
trace of a killed holder: the next acquire simply takes it and logs a `recover` event naming the dead
pid. The lock can only outlive its holder when another process shares the holder's open file (an
inherited descriptor): exec'd children never get it (Python opens files close-on-exec) and forked
children close it at once (`os.register_at_fork` below), so in this harness that cannot happen; if a
foreign process does it anyway, the timeout error names the processes that keep the file open rather
than breaking a lock some process still holds.

Locks are per host. Boards shared between hosts are reserved through labgrid places
(`hil.farm.labgrid_place`), and a lock here still keeps two workers of one host apart.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from hil.errors import HilError

LOG_NAME = "locks.log"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_held_fds: set[int] = set()


class BoardLockError(HilError):
    """A lock that could not be taken: bad name, lock directory unusable, or held past the timeout."""


class BoardBusyError(BoardLockError):
    """Another process held the board for the whole timeout."""


def _close_inherited_locks() -> None:
    # A forked child must not keep its parent's boards locked after the parent dies. Closing the
    # inherited descriptor does not unlock: the parent's descriptor still holds the flock.
    for fd in list(_held_fds):
        try:
            os.close(fd)
        except OSError:
            pass
    _held_fds.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


def default_lock_dir() -> Path:
    """$HIL_LOCK_DIR, else $XDG_RUNTIME_DIR/hil-locks, else /tmp/hil-locks-<uid>."""
    if os.environ.get("HIL_LOCK_DIR"):
        return Path(os.environ["HIL_LOCK_DIR"])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.access(runtime, os.W_OK):
        return Path(runtime) / "hil-locks"
    return Path(f"/tmp/hil-locks-{os.getuid()}")


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a board, as written in its lock file."""

    pid: int
    host: str
    since: float
    owner: str = ""

    @property
    def alive(self) -> bool:
        """Whether the holder still runs; a holder on another host is assumed alive."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie (ended, not yet reaped by its parent) still answers kill(pid, 0) but holds nothing.
        try:
            return Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return True

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        owner = f" ({self.owner})" if self.owner else ""
        return f"pid {self.pid} on {self.host}{owner} since {since}"


def read_holder(path: Path) -> LockHolder | None:
    """The holder recorded in a lock file, or None when it is empty or unreadable."""
    try:
        data = json.loads(path.read_text() or "null")
        return LockHolder(int(data["pid"]), str(data["host"]), float(data["since"]), str(data.get("owner", "")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def processes_holding(path: Path) -> list[int]:
    """Pids of the processes that have this file open (Linux /proc); [] where /proc is not readable."""
    try:
        inode = path.stat().st_ino
    except OSError:
        return []
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            for fd in (proc / "fd").iterdir():
                if os.stat(fd).st_ino == inode:
                    pids.append(int(proc.name))
                    break
        except OSError:
            continue
    return pids


class BoardLock:
    """An exclusive, cross-process lock on one board name."""

    def __init__(
        self,
        board: str,
        lock_dir: Path | None = None,
        *,
        timeout: float = 60.0,
        poll_interval: float = 0.05,
        owner: str = "",
    ) -> None:
        """
        Args:
            board: board (or probe) name; letters, digits, '.', '_' and '-'.
            lock_dir: where lock files and the lock log live; default `default_lock_dir()`.
            timeout: seconds `__enter__` waits.
            poll_interval: seconds between attempts while waiting.
            owner: a label written for others to read, e.g. the pytest-xdist worker id.
        """
        if not _NAME.match(board):
            raise BoardLockError(f"board name '{board}' cannot name a lock file: use letters, digits, '.', '_', '-'")
        self.board = board
        self.lock_dir = lock_dir or default_lock_dir()
        self.path = self.lock_dir / f"{board}.lock"
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.owner = owner
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Takes the lock if it is free; never waits."""
        if self._fd is not None:
            return True
        try:
            self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise BoardLockError(f"cannot create lock file {self.path}: {e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise BoardLockError(f"cannot lock {self.path}: {e}") from e
        self._fd = fd
        _held_fds.add(fd)
        previous = read_holder(self.path)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "owner": self.owner}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        if previous is not None:
            # A record left behind means its holder ended without release(): killed, or crashed.
            self._log("recover", dead_pid=previous.pid, dead_host=previous.host)
        self._log("acquire")
        return True

    def acquire(self, timeout: float | None = None) -> None:
        """Waits up to `timeout` seconds (default: the constructor's) for the lock.

        Raises:
            BoardBusyError: naming the board, its holder and how long it waited.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoardBusyError(self._busy_message(timeout))
            time.sleep(min(self.poll_interval, remaining))

    def _busy_message(self, timeout: float) -> str:
        holder = read_holder(self.path)
        if holder is None:
            who = "a process that has not yet written its record"
        elif holder.alive:
            who = holder.describe()
        else:
            keepers = [p for p in processes_holding(self.path) if p != os.getpid()]
            who = (
                f"{holder.describe()}, which is dead; the lock is kept by processes that share its lock file "
                f"({', '.join(map(str, keepers)) or 'unknown'}): end them to free the board"
            )
        return f"board '{self.board}' stayed locked for {timeout:g} s by {who} (lock file {self.path})"

    def release(self) -> None:
        """Frees the lock; safe to call when not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _held_fds.discard(fd)
        # Logged and cleared while still locked, so the log's intervals never overlap another holder's.
        self._log("release")
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def locked(self) -> bool:
        """Whether some process (this one included) holds the lock; leaves the file and the log alone."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def holder(self) -> LockHolder | None:
        """The current holder's record, or None when the board is free (or its holder has not written it yet)."""
        return read_holder(self.path) if self.locked() else None

    def _log(self, event: str, **extra: object) -> None:
        entry = {
            "event": event,
            "board": self.board,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "owner": self.owner,
            "time": time.time(),
            "monotonic_ns": time.monotonic_ns(),
            **extra,
        }
        # One write() of a short line on an O_APPEND file: lines from many processes never interleave.
        fd = os.open(self.lock_dir / LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
        finally:
            os.close(fd)

    def __enter__(self) -> BoardLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


def read_lock_log(lock_dir: Path) -> list[dict]:
    """Every event in a lock directory's log, in the order written."""
    path = lock_dir / LOG_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def overlapping_holds(events: Iterable[dict]) -> list[str]:
    """Times the log shows a board taken while another process still held it; [] for a clean log.

    A holder that died without a release event is closed by the `recover` event of the next holder.
    """
    holders: dict[str, dict] = {}
    problems = []
    for event in events:
        board, kind = event["board"], event["event"]
        current = holders.get(board)
        if kind == "recover":
            if current is not None and current["pid"] == event.get("dead_pid"):
                holders.pop(board)
        elif kind == "acquire":
            if current is not None:
                problems.append(f"{board}: pid {event['pid']} acquired while pid {current['pid']} held it")
            holders[board] = event
        elif kind == "release":
            if current is None or current["pid"] != event["pid"]:
                holder = current["pid"] if current else "nobody"
                problems.append(f"{board}: pid {event['pid']} released while {holder} held it")
            holders.pop(board, None)
    return problems
