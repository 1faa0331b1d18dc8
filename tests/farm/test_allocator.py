"""BoardAllocator and board_states: xdist-like workers share a farm without ever sharing a board."""

from __future__ import annotations

import multiprocessing
import os
import socket
import time

import pytest

from hil.farm.allocator import BoardAllocator
from hil.farm.board_states import board_states
from hil.farm.farm_file import FarmFileError, load_farm
from hil.locks.board_lock import BoardBusyError, BoardLock, overlapping_holds, read_lock_log

FORK = multiprocessing.get_context("fork")


@pytest.fixture
def listener():
    """A TCP server standing in for a board's network serial port."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


def farm_of(tmp_path, listener, extra=""):
    text = (
        "boards:\n"
        f"  - {{name: b1, kind: mps2-an386, probe_uid: A, serial_port: 'socket://127.0.0.1:{listener}', tags: [cam]}}\n"
        f"  - {{name: b2, kind: mps2-an386, probe_uid: B, serial_port: 'socket://127.0.0.1:{listener}'}}\n"
        "  - {name: gone, kind: nucleo-f439zi, probe_uid: C, serial_port: /dev/serial/by-id/usb-none-if02}\n" + extra
    )
    path = tmp_path / "farm.yaml"
    path.write_text(text)
    return load_farm(path)


def _worker(farm, lock_dir, rounds, start, used) -> None:
    start.wait(10)
    allocator = BoardAllocator(farm, lock_dir, owner=f"gw{os.getpid()}", poll_interval=0.005)
    for _ in range(rounds):
        with allocator.allocate("mps2-an386", timeout=30) as allocation:
            used.put(allocation.board.name)
            time.sleep(0.005)


def test_workers_share_two_boards_without_overlap(tmp_path, listener):
    farm = farm_of(tmp_path, listener)
    lock_dir = tmp_path / "locks"
    start, used = FORK.Event(), FORK.Queue()
    workers = [FORK.Process(target=_worker, args=(farm, lock_dir, 6, start, used)) for _ in range(4)]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    events = read_lock_log(lock_dir)
    assert overlapping_holds(events) == []
    assert sum(e["event"] == "acquire" for e in events) == 24
    assert {used.get(timeout=5) for _ in range(24)} == {"b1", "b2"}


def test_tags_select_and_a_busy_farm_times_out_naming_holders(tmp_path, listener):
    farm = farm_of(tmp_path, listener)
    allocator = BoardAllocator(farm, tmp_path / "locks", owner="gw0")
    with allocator.allocate("mps2-an386", ["cam"], timeout=1) as held:
        assert held.board.name == "b1"
        with pytest.raises(
            BoardBusyError, match=r"none became free in 0.2 s\n  b1: locked locked by pid \d+ .*\(gw0\)"
        ):
            BoardAllocator(farm, tmp_path / "locks", owner="gw1").allocate("mps2-an386", ["cam"], timeout=0.2)
    with pytest.raises(FarmFileError, match="no board of kind 'mps2-an386' with tags \\['dsp'\\]"):
        allocator.allocate("mps2-an386", ["dsp"], timeout=0.1)


def test_offline_boards_are_skipped_and_an_all_offline_kind_fails_at_once(tmp_path, listener):
    farm = farm_of(tmp_path, listener)
    started = time.monotonic()
    with pytest.raises(BoardBusyError, match="every board is offline\n  gone: offline serial port /dev/serial"):
        BoardAllocator(farm, tmp_path / "locks").allocate("nucleo-f439zi", timeout=30)
    assert time.monotonic() - started < 5


def test_board_states_free_locked_offline(tmp_path, listener):
    dead_port = socket.create_server(("127.0.0.1", 0))
    closed = dead_port.getsockname()[1]
    dead_port.close()
    farm = farm_of(
        tmp_path,
        listener,
        f"  - {{name: nobody, kind: mps2-an386, probe_uid: D, serial_port: 'socket://127.0.0.1:{closed}'}}\n"
        "  - {name: q, kind: mps2-an386, emulate: qemu}\n",
    )
    lock = BoardLock("b2", tmp_path / "locks", owner="gw3")
    lock.acquire(1)
    try:
        states = board_states(farm, tmp_path / "locks")
    finally:
        lock.release()
    assert list(states) == ["b1", "b2", "gone", "nobody", "q"]
    assert states["b1"].state == "free" and states["q"].state == "free"
    assert states["b2"].state == "locked" and states["b2"].holder.pid == os.getpid()
    assert "(gw3)" in states["b2"].detail
    assert states["gone"].state == "offline" and "does not exist" in states["gone"].detail
    assert states["nobody"].state == "offline" and f"nothing accepts connections at socket://127.0.0.1:{closed}" in (
        states["nobody"].detail
    )
