"""A serial port another program holds is refused in one line that names the program."""

from __future__ import annotations

import os
import subprocess

import pytest

from hil.errors import LinkError
from hil.link.device_link import open_port


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
