"""OpenOcdTclMemory against the fake of OpenOCD's Tcl server in tests/targets_openocd/fake_tcl.py (a real local
socket, 64 KB of RAM at 0x20000000), since no probe exists here."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from hil.errors import LinkError
from hil.link.rtt import RttPort
from hil.openocd.tcl_memory import CHUNK_BYTES, OpenOcdTclMemory
from tests.targets_openocd.fake_tcl import RAM, FakeTclServer, RamArray


@pytest.fixture
def server() -> Iterator[FakeTclServer]:
    fake = FakeTclServer(RamArray()).serve_in_background()
    yield fake
    fake.close()


def test_reads_and_writes_across_command_chunks(server):
    memory = OpenOcdTclMemory(port=server.port, timeout=5)
    try:
        payload = bytes((i * 7) % 256 for i in range(CHUNK_BYTES * 2 + 100))
        memory.write(RAM + 3, payload)
        assert server.memory.ram[3 : 3 + len(payload)] == payload
        assert memory.read(RAM + 3, len(payload)) == payload
        assert len(server.commands) == 6  # three writes and three reads of at most CHUNK_BYTES
        assert server.commands[-1].startswith(b"list [catch {read_memory 0x20002003 8 100}")
    finally:
        memory.close()


def test_an_rtt_port_finds_its_control_block_through_openocd(server):
    """The rtt transport's own reader over this backend: the control block and one byte from the up ring."""
    block, up_buffer, down_buffer = 0x100, 0x200, 0x300
    up = struct.pack("<6I", 0, RAM + up_buffer, 16, 1, 0, 0)  # write offset 1: one byte waiting
    down = struct.pack("<6I", 0, RAM + down_buffer, 16, 0, 0, 0)
    server.memory.ram[block : block + 72] = b"SEGGER RTT\0\0\0\0\0\0" + struct.pack("<2i", 1, 1) + up + down
    server.memory.ram[up_buffer] = 0x5A
    port = RttPort(OpenOcdTclMemory(port=server.port), RAM + block, startup_timeout=2)
    try:
        assert port.read(1) == b"\x5a"
        assert struct.unpack_from("<I", server.memory.ram, block + 24 + 16)[0] == 1  # the host moved the read offset
    finally:
        port.close()


def test_a_failed_read_is_one_line_naming_openocds_error(server):
    memory = OpenOcdTclMemory(port=server.port)
    try:
        with pytest.raises(
            LinkError,
            match=r"^OpenOCD Tcl port .*: read_memory 0x30000000 8 4 failed in OpenOCD: "
            r"read_memory: failed to read memory$",
        ):
            memory.read(0x30000000, 4)
    finally:
        memory.close()


def test_no_server_and_a_silent_server_are_errors_not_hangs():
    silent = FakeTclServer(RamArray(), silent=True).serve_in_background()
    port = silent.port
    try:
        memory = OpenOcdTclMemory(port=port, timeout=0.5)
        with pytest.raises(LinkError, match=r"did not answer within 0.5 s"):
            memory.read(RAM, 4)
        memory.close()
    finally:
        silent.close()
    with pytest.raises(LinkError, match=rf"^cannot reach OpenOCD Tcl port 127.0.0.1:{port}: .*is openocd running"):
        OpenOcdTclMemory(port=port, timeout=1)
