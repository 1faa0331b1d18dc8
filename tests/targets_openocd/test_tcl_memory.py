"""OpenOcdTclMemory against a fake of OpenOCD's Tcl server on a real local socket.

The fake stands in for openocd attached to a probe (none exists here): it speaks the wire format (commands and
replies ended by 0x1a), evaluates only the two commands the backend sends, `read_memory ADDR 8 COUNT` and
`write_memory ADDR 8 {BYTES}` inside the backend's `list [catch {...} r] $r`, over 64 KB of RAM at 0x20000000,
and answers a read outside it as OpenOCD does, with a failed status."""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from hil.errors import LinkError
from hil.link.rtt import RttPort
from hil.openocd.tcl_memory import CHUNK_BYTES, OpenOcdTclMemory

RAM = 0x20000000
_COMMAND = re.compile(
    r"^list \[catch \{(read_memory|write_memory) (0x[0-9a-f]+) 8 (\d+|\{[\d ]*\})\} hil_result\] \$hil_result$"
)


class FakeTclServer:
    """A one-client stand-in for OpenOCD's Tcl server over a bytearray of target RAM."""

    def __init__(self, silent: bool = False) -> None:
        self.ram = bytearray(65536)
        self.commands: list[bytes] = []
        self.silent = silent
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            client, _ = self._server.accept()
        except OSError:
            return
        pending = b""
        with client:
            while data := client.recv(65536):
                pending += data
                while b"\x1a" in pending:
                    command, _, pending = pending.partition(b"\x1a")
                    self.commands.append(command)
                    if not self.silent:
                        client.sendall(self._evaluate(command.decode()).encode() + b"\x1a")

    def _evaluate(self, text: str) -> str:
        match = _COMMAND.match(text)
        if match is None:
            return f'1 {{invalid command name "{text.split()[0]}"}}'
        name, address, argument = match.group(1), int(match.group(2), 16) - RAM, match.group(3)
        if name == "read_memory":
            count = int(argument)
            if not 0 <= address <= len(self.ram) - count:
                return "1 {read_memory: failed to read memory}"
            return "0 {" + " ".join(f"0x{b:02x}" for b in self.ram[address : address + count]) + "}"
        values = bytes(int(v) for v in argument.strip("{}").split())
        self.ram[address : address + len(values)] = values
        return "0 {}"

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def server() -> Iterator[FakeTclServer]:
    fake = FakeTclServer()
    yield fake
    fake.close()


def test_reads_and_writes_across_command_chunks(server):
    memory = OpenOcdTclMemory(port=server.port, timeout=5)
    try:
        payload = bytes((i * 7) % 256 for i in range(CHUNK_BYTES * 2 + 100))
        memory.write(RAM + 3, payload)
        assert server.ram[3 : 3 + len(payload)] == payload
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
    server.ram[block : block + 72] = b"SEGGER RTT\0\0\0\0\0\0" + struct.pack("<2i", 1, 1) + up + down
    server.ram[up_buffer] = 0x5A
    port = RttPort(OpenOcdTclMemory(port=server.port), RAM + block, startup_timeout=2)
    try:
        assert port.read(1) == b"\x5a"
        assert struct.unpack_from("<I", server.ram, block + 24 + 16)[0] == 1  # the host moved the read offset
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
    silent = FakeTclServer(silent=True)
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
