"""A serial port or a local socket another program holds is refused in one line that names the program."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hil.errors import LinkError
from hil.link.device_link import open_port
from hil.link.port_holders import local_socket_port, socket_clients
from hil.targets.linked import connect_when_listening
from hil.targets.qemu import QemuProcess, free_tcp_port


def test_a_terminal_holding_the_port_is_named(tmp_path) -> None:
    """A pseudo-terminal stands in for a board's /dev/ttyACM0; `sleep` holds it as a terminal program would."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    with open(path, "rb") as held:
        holder = subprocess.Popen(["sleep", "30"], stdin=held)
    try:
        with pytest.raises(LinkError, match=rf"port {path} is held by sleep \(pid {holder.pid}\): close it"):
            open_port(path, 115_200)
    finally:
        holder.kill()
        holder.wait()
        os.close(master)
        os.close(slave)


def test_a_free_port_opens_exclusively() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    port = open_port(path, 115_200)
    try:
        with pytest.raises(LinkError, match=f"cannot open port {path}"):
            open_port(path, 115_200)  # our own first open holds the lock a second open asks for
    finally:
        port.close()
        os.close(master)


def test_a_client_holding_qemus_uart_socket_is_named_at_once(qemu_board, uart_image, workdir) -> None:
    """QEMU's UART socket serves one client: a second connection sits in its backlog unanswered. The holder
    here is a Python process that connected first, as a terminal (nc, telnet) would."""
    port = free_tcp_port()
    process = QemuProcess(qemu_board, uart_image.elf, workdir, f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on")
    process.start()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time\n"
            "deadline = time.monotonic() + 10\n"
            "while True:\n"
            "    try:\n"
            f"        s = socket.create_connection(('127.0.0.1', {port}))\n"
            "        break\n"
            "    except OSError:\n"
            "        if time.monotonic() > deadline: sys.exit(1)\n"
            "        time.sleep(0.05)\n"
            "print('connected', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "connected"
        url = f"socket://127.0.0.1:{port}"
        with pytest.raises(LinkError, match=rf"^{url} is held by another client, \S+ \(pid {holder.pid}\): close it"):
            open_port(url, 115_200)
    finally:
        holder.kill()
        holder.wait()
        process.stop()


def test_a_socket_nobody_else_holds_opens(qemu_board, uart_image, workdir) -> None:
    port = free_tcp_port()
    process = QemuProcess(qemu_board, uart_image.elf, workdir, f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on")
    process.start()
    try:
        link = connect_when_listening(f"socket://127.0.0.1:{port}", 115_200, lambda: process.poll() is None, 10)
        assert link is not None and socket_clients(port) == []
        link.close()
    finally:
        process.stop()


def test_local_socket_ports_are_recognised() -> None:
    assert local_socket_port("socket://127.0.0.1:4321") == 4321
    assert local_socket_port("socket://localhost:80?logging=debug") == 80
    assert local_socket_port("socket://10.0.0.2:4321") is None
    assert local_socket_port("rfc2217://127.0.0.1:4321") is None
