"""The rtt transport's memory backend for OpenOCD: `read_memory`/`write_memory` over OpenOCD's Tcl port (6666),
where every command and every reply ends with the byte 0x1a. The core keeps running: a probe reads RAM through
the debug port while the firmware works, so service is a short poll, not a halt."""

from __future__ import annotations

import re
import socket
import time

from hil.errors import LinkError
from hil.link.memory_access import MemoryAccess

TCL_PORT = 6666
TERMINATOR = b"\x1a"
# Bytes per command: read_memory returns one Tcl word per byte (up to 5 characters each).
CHUNK_BYTES = 4096
POLL_INTERVAL_S = 0.002
_REPLY = re.compile(r"^([01]) \{?(.*?)\}?$", re.DOTALL)


class OpenOcdTclMemory(MemoryAccess):
    """Target memory through a running OpenOCD's Tcl server."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = TCL_PORT,
        timeout: float = 5.0,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        """
        Args:
            host, port: OpenOCD's tcl_port (default 6666 on loopback).
            timeout: seconds one command may take before the link gives up.
            poll_interval: how long run_until_service lets the running core work between looks at its rings.
        """
        self.where = f"OpenOCD Tcl port {host}:{port}"
        self.timeout = timeout
        self.poll_interval = poll_interval
        try:
            self._socket = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise LinkError(f"cannot reach {self.where}: {e}; is openocd running (with tcl_port {port})?") from e
        self._pending = b""

    def command(self, text: str) -> str:
        """OpenOCD's result of one Tcl command; raises LinkError when the command failed inside OpenOCD."""
        wrapped = f"list [catch {{{text}}} hil_result] $hil_result"
        try:
            self._socket.sendall(wrapped.encode() + TERMINATOR)
            reply = self._receive()
        except OSError as e:
            raise LinkError(f"{self.where}: {text.split()[0]} failed: {e}") from e
        match = _REPLY.match(reply)
        if match is None:
            raise LinkError(f"{self.where} answered {reply[:80]!r} to {text.split()[0]}, not a status and result")
        if match.group(1) != "0":
            raise LinkError(f"{self.where}: {text[:60]} failed in OpenOCD: {match.group(2)}")
        return match.group(2)

    def _receive(self) -> str:
        deadline = time.monotonic() + self.timeout
        while TERMINATOR not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkError(f"{self.where} did not answer within {self.timeout:g} s")
            self._socket.settimeout(remaining)
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise LinkError(f"{self.where} closed the connection (openocd stopped?)")
            self._pending += data
        reply, _, self._pending = self._pending.partition(TERMINATOR)
        return reply.decode(errors="replace")

    def read(self, address: int, size: int) -> bytes:
        data = bytearray()
        for start in range(0, size, CHUNK_BYTES):
            count = min(CHUNK_BYTES, size - start)
            values = self.command(f"read_memory 0x{address + start:08x} 8 {count}").split()
            if len(values) != count:
                raise LinkError(f"{self.where} returned {len(values)} bytes at 0x{address + start:08x}, asked {count}")
            data += bytes(int(v, 0) for v in values)
        return bytes(data)

    def write(self, address: int, data: bytes) -> None:
        for start in range(0, len(data), CHUNK_BYTES):
            chunk = data[start : start + CHUNK_BYTES]
            self.command(f"write_memory 0x{address + start:08x} 8 {{{' '.join(str(b) for b in chunk)}}}")

    def run_until_service(self, timeout: float) -> bool:
        if timeout <= 0:
            return False
        time.sleep(min(timeout, self.poll_interval))
        return True

    def close(self) -> None:
        self._socket.close()
