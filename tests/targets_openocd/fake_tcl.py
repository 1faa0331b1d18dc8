"""A stand-in for OpenOCD's Tcl server attached to a probe (no probe exists here), on a real local socket.

It speaks the wire format (commands and replies ended by 0x1a) and evaluates only the two commands
hil.openocd.tcl_memory sends, `read_memory ADDR 8 COUNT` and `write_memory ADDR 8 {BYTES}` inside the backend's
`list [catch {...} r] $r`, over a target memory: a bytearray of RAM at 0x20000000, or a QEMU running the
firmware reached through its gdbstub, interrupted for each access and let run on, as a probe's access to a
running core goes unnoticed by it. A read outside the memory fails as OpenOCD's does, with a failed status."""

from __future__ import annotations

import re
import socket
import threading
from typing import Protocol

from hil.targets.gdb_remote import GdbRemote

RAM = 0x20000000
_COMMAND = re.compile(
    r"^list \[catch \{(read_memory|write_memory) (0x[0-9a-f]+) 8 (\d+|\{[\d ]*\})\} hil_result\] \$hil_result$"
)


class TargetMemory(Protocol):
    def read(self, address: int, count: int) -> bytes | None:
        """count bytes at address; None where the target has no such memory."""

    def write(self, address: int, data: bytes) -> None: ...


class RamArray:
    """64 KB of RAM at 0x20000000."""

    def __init__(self, size: int = 65536) -> None:
        self.ram = bytearray(size)

    def read(self, address: int, count: int) -> bytes | None:
        offset = address - RAM
        return bytes(self.ram[offset : offset + count]) if 0 <= offset <= len(self.ram) - count else None

    def write(self, address: int, data: bytes) -> None:
        self.ram[address - RAM : address - RAM + len(data)] = data


class RunningCore:
    """A QEMU guest through its gdbstub, running between accesses."""

    def __init__(self, gdb_port: int) -> None:
        self.remote = GdbRemote("127.0.0.1", gdb_port)
        self.remote.resume()

    def read(self, address: int, count: int) -> bytes | None:
        data = self.remote.read_memory(address, count)
        self.remote.resume()
        return data

    def write(self, address: int, data: bytes) -> None:
        self.remote.write_memory(address, data)
        self.remote.resume()


class FakeTclServer:
    """Serves one client at a time, each until it disconnects, on 127.0.0.1:port (0: any free port)."""

    def __init__(self, memory: TargetMemory, port: int = 0, silent: bool = False) -> None:
        self.memory = memory
        self.commands: list[bytes] = []
        self.silent = silent
        self._server = socket.create_server(("127.0.0.1", port))
        self.port = self._server.getsockname()[1]

    def serve_in_background(self) -> FakeTclServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def serve_forever(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with client:
                self._serve(client)

    def _serve(self, client: socket.socket) -> None:
        pending = b""
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
        name, address, argument = match.group(1), int(match.group(2), 16), match.group(3)
        if name == "read_memory":
            data = self.memory.read(address, int(argument))
            if data is None:
                return "1 {read_memory: failed to read memory}"
            return "0 {" + " ".join(f"0x{b:02x}" for b in data) + "}"
        self.memory.write(address, bytes(int(v) for v in argument.strip("{}").split()))
        return "0 {}"

    def close(self) -> None:
        # A thread blocked in accept() keeps a merely closed socket listening; shutdown wakes it and stops that.
        try:
            self._server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._server.close()
