"""BoardLock with real processes: mutual exclusion checked from the lock log, a killed holder's lock
recovered, waits that end in a message naming the holder."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import socket
import time

import pytest

from hil.locks import board_lock
from hil.locks.board_lock import (
    BoardBusyError,
    BoardLock,
    BoardLockError,
    LockHolder,
    overlapping_holds,
    read_lock_log,
)

FORK = multiprocessing.get_context("fork")


def _compete(lock_dir, rounds: int, start) -> None:
    start.wait(10)
    for _ in range(rounds):
        with BoardLock("board1", lock_dir, timeout=30, poll_interval=0.005, owner=f"w{os.getpid()}"):
            time.sleep(0.005)


def _hold(lock_dir, held, child_pid=None) -> None:
    lock = BoardLock("board1", lock_dir, owner="holder")
    lock.acquire(5)
    if child_pid is not None:
        pid = os.fork()
        if pid == 0:  # a child that outlives its parent, like a forgotten subprocess
            time.sleep(30)
            os._exit(0)
        child_pid.value = pid
    held.set()
    time.sleep(30)


def _start_holder(lock_dir, child_pid=None):
    held = FORK.Event()
    process = FORK.Process(target=_hold, args=(lock_dir, held, child_pid), daemon=True)
    process.start()
    assert held.wait(10), "the holder never took the lock"
    return process


def _kill(process) -> None:
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
    process.join(5)


def test_competing_processes_never_hold_the_board_at_once(tmp_path):
    workers, rounds = 6, 8
    start = FORK.Event()
    processes = [FORK.Process(target=_compete, args=(tmp_path, rounds, start)) for _ in range(workers)]
    for p in processes:
        p.start()
    start.set()
    for p in processes:
        p.join(60)
        assert p.exitcode == 0
    events = read_lock_log(tmp_path)
    assert [e["event"] for e in events].count("acquire") == workers * rounds
    assert overlapping_holds(events) == []
    # The same property from the clock: each hold ends before the next begins.
    holds = []
    for event in events:
        if event["event"] == "acquire":
            holds.append([event["monotonic_ns"], None, event["pid"]])
        elif event["event"] == "release":
            assert holds[-1][2] == event["pid"]
            holds[-1][1] = event["monotonic_ns"]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(holds))
    assert len({h[2] for h in holds}) == workers


def test_a_killed_holders_lock_is_recovered_and_logged(tmp_path):
    holder = _start_holder(tmp_path)
    lock = BoardLock("board1", tmp_path)
    assert not lock.try_acquire()
    assert lock.holder().pid == holder.pid and lock.holder().alive
    _kill(holder)
    lock.acquire(timeout=2)
    try:
        recover = [e for e in read_lock_log(tmp_path) if e["event"] == "recover"]
        assert recover and recover[-1]["dead_pid"] == holder.pid and recover[-1]["pid"] == os.getpid()
        assert overlapping_holds(read_lock_log(tmp_path)) == []
    finally:
        lock.release()


def test_a_forked_child_does_not_keep_a_dead_holders_board(tmp_path):
    child = FORK.Value("i", 0)
    holder = _start_holder(tmp_path, child)
    try:
        os.kill(holder.pid, signal.SIGKILL)
        lock = BoardLock("board1", tmp_path)
        lock.acquire(timeout=2)
        lock.release()
    finally:
        if child.value:
            os.kill(child.value, signal.SIGKILL)
        holder.join(5)  # its exit is seen once the child, which shares its sentinel pipe, is gone too


def test_waiting_times_out_naming_the_board_and_its_holder(tmp_path):
    holder = _start_holder(tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(BoardBusyError) as caught:
            BoardLock("board1", tmp_path).acquire(timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 2
        message = str(caught.value)
        assert "board 'board1' stayed locked for 0.3 s" in message
        assert f"pid {holder.pid} on {socket.gethostname()} (holder) since " in message
        assert str(tmp_path / "board1.lock") in message
    finally:
        _kill(holder)


def test_release_is_idempotent_and_the_lock_can_be_taken_again(tmp_path):
    lock = BoardLock("board1", tmp_path)
    with lock:
        assert lock.held and lock.locked()
    lock.release()
    assert not lock.locked() and lock.holder() is None
    assert [e["event"] for e in read_lock_log(tmp_path)] == ["acquire", "release"]


def test_names_that_cannot_be_file_names_are_refused(tmp_path):
    with pytest.raises(BoardLockError, match="cannot name a lock file"):
        BoardLock("../etc/passwd", tmp_path)


def test_overlap_detection_reports_a_double_hold():
    events = [
        {"event": "acquire", "board": "b", "pid": 1},
        {"event": "acquire", "board": "b", "pid": 2},
        {"event": "release", "board": "b", "pid": 2},
    ]
    assert overlapping_holds(events) == ["b: pid 2 acquired while pid 1 held it"]


def _hold_and_leak(lock_dir, child_pid) -> None:
    lock = BoardLock("board1", lock_dir)
    lock.acquire(5)
    board_lock._held_fds.clear()  # as if a non-Python program had inherited the descriptor
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    child_pid.value = pid
    os._exit(0)  # the holder ends without release()


def test_a_lock_kept_by_a_dead_holders_descendant_names_the_keeper(tmp_path):
    child = FORK.Value("i", 0)
    holder = FORK.Process(target=_hold_and_leak, args=(tmp_path, child))
    holder.start()
    try:
        deadline = time.monotonic() + 10
        while not child.value or LockHolder(holder.pid, socket.gethostname(), 0).alive:
            assert time.monotonic() < deadline, "the holder did not end"
            time.sleep(0.01)
        with pytest.raises(BoardBusyError, match=f"which is dead; the lock is kept by .*\\({child.value}\\)"):
            BoardLock("board1", tmp_path).acquire(timeout=0.2)
    finally:
        if child.value:
            os.kill(child.value, signal.SIGKILL)
        holder.join(5)
