"""LabgridPlace against a real labgrid coordinator and exporter on loopback, exporting a NetworkSerialPort
that points at a local TCP echo server."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from hil.farm.labgrid_place import LabgridError, LabgridPlace, find_client, parse_network_serial
from hil.link.device_link import open_port
from hil.targets.qemu import free_tcp_port
from tests.support.labgrid_lab import LABGRID_MISSING, SKIP_REASON, create_place, delete_place, labgrid_lab

pytestmark = pytest.mark.skipif(LABGRID_MISSING, reason=SKIP_REASON)

SHOW = """Place 'b1':
  acquired: host/w1
Acquired resource 'NetworkSerialPort' (exp1/board1/NetworkSerialPort/NetworkSerialPort):
  {'acquired': 'b1',
   'avail': True,
   'cls': 'NetworkSerialPort',
   'params': {'extra': {'proxy': 'localhost', 'proxy_required': False},
              'host': '127.0.0.1',
              'port': 45678,
              'protocol': 'raw',
              'speed': 115200}}
"""


def test_show_output_gives_the_serial_url():
    assert parse_network_serial(SHOW).url == "socket://127.0.0.1:45678"
    assert parse_network_serial(SHOW.replace("'raw'", "'rfc2217'")).url == "rfc2217://127.0.0.1:45678"
    assert parse_network_serial("Place 'x':\n  acquired: None\n") is None


def _echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                while data := client.recv(4096):
                    client.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory):
    """HOST:PORT of a coordinator with one exporter publishing board1's NetworkSerialPort (an echo server)."""
    server, echo_port = _echo_server()
    try:
        with labgrid_lab(tmp_path_factory.mktemp("labgrid"), echo_port) as address:
            yield address, echo_port
    finally:
        server.close()


@pytest.fixture
def place(coordinator, request):
    address, _ = coordinator
    name = request.node.name.replace("test_", "")[:30]
    create_place(address, name)
    yield name
    delete_place(address, name)


def test_acquire_gives_a_serial_url_that_reaches_the_exported_port(coordinator, place):
    address, echo_port = coordinator
    lab = LabgridPlace(place, address, user="gw0")
    lab.acquire(timeout=10)
    try:
        assert lab.serial_url() == f"socket://127.0.0.1:{echo_port}"
        port = open_port(lab.serial_url(), 115200, timeout=2)
        try:
            port.write(b"ping")
            assert port.read(4) == b"ping"
        finally:
            port.close()
    finally:
        lab.release()
    lab.release()


def test_a_second_user_waits_until_the_place_is_released(coordinator, place):
    address, _ = coordinator
    first, second = (
        LabgridPlace(place, address, user="gw0"),
        LabgridPlace(place, address, user="gw1", poll_interval=0.2),
    )
    first.acquire(timeout=10)
    with pytest.raises(LabgridError, match=f"place '{place}' stayed taken for 0.5 s.*already acquired by"):
        second.acquire(timeout=0.5)
    released_at: list[float] = []

    def release_later() -> None:
        time.sleep(1.0)
        first.release()
        released_at.append(time.monotonic())

    releaser = threading.Thread(target=release_later)
    releaser.start()
    try:
        second.acquire(timeout=20)
        acquired_at = time.monotonic()
    finally:
        releaser.join(30)
    try:
        assert released_at and acquired_at >= released_at[0]
    finally:
        second.release()


def test_an_unknown_place_fails_at_once(coordinator):
    address, _ = coordinator
    started = time.monotonic()
    with pytest.raises(LabgridError, match=r"place 'no-such-place': acquire failed: .*matches nothing"):
        LabgridPlace("no-such-place", address).acquire(timeout=30)
    assert time.monotonic() - started < 15


def test_an_unreachable_coordinator_is_an_error_not_a_wait():
    with pytest.raises(LabgridError, match=r"acquire failed.*coordinator"):
        LabgridPlace("b1", f"127.0.0.1:{free_tcp_port()}", command_timeout=20).acquire(timeout=30)


def test_a_missing_client_says_how_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabgridError, match=r"pip install labgrid==26\.0\.1"):
        find_client("labgrid-client-that-does-not-exist")
