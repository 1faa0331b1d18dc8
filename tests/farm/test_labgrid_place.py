"""LabgridPlace against a real labgrid coordinator and exporter on loopback, exporting a NetworkSerialPort
that points at a local TCP echo server."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hil.farm.labgrid_place import LabgridError, LabgridPlace, find_client, parse_network_serial
from hil.link.device_link import open_port
from hil.targets.qemu import free_tcp_port

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(
    not (BIN / "labgrid-coordinator").exists(), reason="labgrid is not installed (pip install labgrid==26.0.1)"
)

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


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory):
    """HOST:PORT of a coordinator with one exporter publishing board1's NetworkSerialPort (an echo server)."""
    workdir = tmp_path_factory.mktemp("labgrid")
    server, echo_port = _echo_server()
    address = f"127.0.0.1:{free_tcp_port()}"
    (workdir / "exporter.yaml").write_text(
        f"board1:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {echo_port}\n    protocol: raw\n"
    )
    processes = []
    try:
        with open(workdir / "coordinator.log", "wb") as log:
            processes.append(
                subprocess.Popen([BIN / "labgrid-coordinator", "-l", address], cwd=workdir, stdout=log, stderr=log)
            )
        # An exporter started before the coordinator listens gives up, so wait for the coordinator first.
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and processes[0].poll() is None, "the coordinator did not start"
                time.sleep(0.1)
        with open(workdir / "exporter.log", "wb") as log:
            exporter = [BIN / "labgrid-exporter", "-c", address, "-n", "exp1", "--hostname", "127.0.0.1"]
            processes.append(subprocess.Popen([*exporter, "exporter.yaml"], cwd=workdir, stdout=log, stderr=log))
        deadline = time.monotonic() + 30
        while True:
            result = subprocess.run(
                [find_client(), "-x", address, "resources"], capture_output=True, text=True, timeout=10, check=False
            )
            if "exp1/board1/NetworkSerialPort" in result.stdout:
                break
            exited = [p.args[0] for p in processes if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                logs = "\n".join(f"{f.name}: {f.read_text()[-1500:]}" for f in workdir.glob("*.log"))
                pytest.fail(f"the exporter never showed up (exited: {exited}): {result.stderr}\n{logs}")
            time.sleep(0.3)
        yield address, echo_port
    finally:
        for process in reversed(processes):
            _stop(process)
        server.close()


@pytest.fixture
def place(coordinator, request):
    address, _ = coordinator
    name = request.node.name.replace("test_", "")[:30]
    client = [find_client(), "-x", address, "-p", name]
    for args in (["create"], ["add-match", "exp1/board1/*"]):
        subprocess.run([*client, *args], check=True, capture_output=True, timeout=20)
    yield name
    subprocess.run([*client, "release", "-k"], capture_output=True, timeout=20, check=False)
    subprocess.run([*client, "delete"], capture_output=True, timeout=20, check=False)


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
