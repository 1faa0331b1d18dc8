"""A small client of the GDB remote serial protocol, enough to serve RTT rings through QEMU's gdbstub:
packets with checksums and acks, memory reads (`m`) and writes (`X`, else `M`) as large as the stub's
PacketSize allows, registers (`g`), software breakpoints (`Z0`), continue (`c`, at an address), interrupt
(0x03) and stop replies. Every wait is bounded by a deadline."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from hil.errors import LinkError
from hil.link.memory_access import MemoryAccess

# The packet size a stub that does not say assumes (QEMU 7.2 says PacketSize=1000: 4096 bytes).
DEFAULT_PACKET_SIZE = 4096
# Room in a packet for '$', the command and address, '#' and the checksum.
PACKET_OVERHEAD = 32
REGISTER_BYTES = 4
LR, PC = 14, 15
THUMB_BREAKPOINT_KIND = 2
INTERRUPT = b"\x03"
# Bytes that `X` packets must escape: 0x7d '}' itself, then '#', '$' and '*'.
ESCAPED = frozenset(b"}#$*")


def checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


def escape_binary(data: bytes) -> bytes:
    """Binary data for an `X` packet: '}' then the byte XOR 0x20 for each byte the framing uses."""
    out = bytearray()
    for b in data:
        if b in ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def expand_run_length(data: bytes) -> bytes:
    """Undoes the protocol's run-length encoding: 'X*n' repeats X (ord(n) - 29) more times."""
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == ord("*") and out and i + 1 < len(data):
            out += out[-1:] * (data[i + 1] - 29)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def packet_size(supported: bytes) -> int:
    """The largest packet the stub takes, from its qSupported reply (PacketSize=<hex>)."""
    for feature in supported.split(b";"):
        if feature.startswith(b"PacketSize="):
            return int(feature[len(b"PacketSize=") :], 16)
    return DEFAULT_PACKET_SIZE


def binary_pieces(data: bytes, room: int) -> list[bytes]:
    """data cut into pieces whose escaped form fits room bytes each."""
    pieces, start, used = [], 0, 0
    for i, b in enumerate(data):
        cost = 2 if b in ESCAPED else 1
        if used + cost > room:
            pieces.append(data[start:i])
            start, used = i, 0
        used += cost
    pieces.append(data[start:])
    return pieces


@dataclass(frozen=True)
class StopReply:
    """Why the target stopped (`S`/`T` packets), or that it exited (`W`/`X`)."""

    kind: str
    signal: int

    @property
    def exited(self) -> bool:
        return self.kind in "WX"


def parse_stop_reply(packet: bytes) -> StopReply:
    if not packet or chr(packet[0]) not in "STWX" or len(packet) < 3:
        raise LinkError(f"gdbstub: expected a stop reply (S, T, W or X), got {packet[:40]!r}")
    return StopReply(chr(packet[0]), int(packet[1:3], 16))


class GdbRemote:
    """One connection to a gdbstub; the target is halted or running, and the client knows which."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.name = f"gdbstub {host}:{port}"
        self.timeout = timeout
        try:
            self._socket = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise LinkError(f"cannot connect to {self.name}: {e}") from e
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self._acks = True
        self._ack_pending = False
        self._resume_command = b"c"
        self.running = False
        self.breakpoints: set[int] = set()
        supported = self.request(b"qSupported:swbreak+")
        self.packet_size = packet_size(supported)
        if b"QStartNoAckMode+" in supported and self.request(b"QStartNoAckMode") == b"OK":
            self._acks = False
        self.has_binary_write: bool | None = None
        self.initial_stop = parse_stop_reply(self.request(b"?"))

    def close(self) -> None:
        self._socket.close()

    def _receive_some(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self._socket.settimeout(remaining)
        try:
            data = self._socket.recv(65536)
        except TimeoutError as e:
            raise TimeoutError from e
        except OSError as e:
            raise LinkError(f"{self.name}: the connection failed ({e})") from e
        if not data:
            raise LinkError(f"{self.name}: the stub closed the connection (did the emulator exit?)")
        self._buffer += data

    def _send_packet(self, payload: bytes) -> None:
        try:
            self._socket.sendall(b"$" + payload + b"#" + checksum(payload))
        except OSError as e:
            raise LinkError(f"{self.name}: cannot send ({e})") from e

    def _receive_packet(self, deadline: float) -> bytes:
        """The next packet's payload, checked, acknowledged; a bad checksum asks for it again."""
        while True:
            start = self._buffer.find(b"$")
            end = self._buffer.find(b"#", start) if start >= 0 else -1
            if start >= 0 and end >= 0 and len(self._buffer) >= end + 3:
                payload = bytes(self._buffer[start + 1 : end])
                given = bytes(self._buffer[end + 1 : end + 3])
                del self._buffer[: end + 3]
                if given.lower() != checksum(payload):
                    if self._acks:
                        self._socket.sendall(b"-")
                    continue
                if self._acks:
                    self._socket.sendall(b"+")
                return expand_run_length(payload)
            self._receive_some(deadline)

    def _await_ack(self, payload: bytes, deadline: float) -> None:
        """Waits for '+' (resending on '-'). A whole packet before it is one the stub sent unasked: QEMU sends a
        stop reply when a connection pauses a running machine, before it reads the first request."""
        while True:
            end = self._buffer.find(b"#") if self._buffer[:1] == b"$" else -1
            if end >= 0 and len(self._buffer) >= end + 3:
                del self._buffer[: end + 3]
                continue
            while self._buffer[:1] in (b"+", b"-"):
                ack = self._buffer[:1]
                del self._buffer[:1]
                if ack == b"+":
                    return
                self._send_packet(payload)
            if self._buffer and self._buffer[:1] != b"$":
                raise LinkError(f"{self.name}: expected an ack, got {bytes(self._buffer[:20])!r}")
            self._receive_some(deadline)

    def request(self, payload: bytes, timeout: float | None = None) -> bytes:
        """Sends one packet and returns the reply's payload; 'E nn' replies raise."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._send_packet(payload)
        try:
            if self._acks:
                self._await_ack(payload, deadline)
            reply = self._receive_packet(deadline)
        except TimeoutError as e:
            raise LinkError(f"{self.name}: no reply to {payload[:24]!r} in {timeout or self.timeout:g} s") from e
        if reply.startswith(b"E") and len(reply) == 3:
            raise LinkError(f"{self.name}: {payload[:24]!r} failed with error {reply.decode()}")
        return reply

    def read_memory(self, address: int, size: int) -> bytes:
        self.halt()
        data = bytearray()
        per_packet = (self.packet_size - PACKET_OVERHEAD) // 2  # the reply spells each byte in two hex digits
        for offset in range(0, size, per_packet):
            n = min(per_packet, size - offset)
            reply = self.request(b"m%x,%x" % (address + offset, n))
            try:
                chunk = bytes.fromhex(reply.decode())
            except ValueError as e:
                raise LinkError(f"{self.name}: reading 0x{address + offset:08x} gave {reply[:40]!r}") from e
            if len(chunk) != n:
                raise LinkError(f"{self.name}: asked for {n} bytes at 0x{address + offset:08x}, got {len(chunk)}")
            data += chunk
        return bytes(data)

    def write_memory(self, address: int, data: bytes) -> None:
        """`X` (binary, as many bytes a packet as fit escaped) where the stub has it, else `M` (hex)."""
        self.halt()
        room = self.packet_size - PACKET_OVERHEAD
        offset = 0
        if self.has_binary_write is not False:
            for piece in binary_pieces(data, room):
                reply = self._try_binary(address + offset, piece)
                if reply != b"OK":
                    self.has_binary_write = False
                    break
                self.has_binary_write = True
                offset += len(piece)
        for start in range(offset, len(data), room // 2):
            piece = data[start : start + room // 2]
            reply = self.request(b"M%x,%x:%s" % (address + start, len(piece), piece.hex().encode()))
            if reply != b"OK":
                raise LinkError(f"{self.name}: writing 0x{address + start:08x} gave {reply[:40]!r}")

    def _try_binary(self, address: int, chunk: bytes) -> bytes:
        try:
            return self.request(b"X%x,%x:" % (address, len(chunk)) + escape_binary(chunk))
        except LinkError:
            if self.has_binary_write:
                raise
            return b""

    def registers(self, *numbers: int) -> tuple[int, ...]:
        """Core registers (r0..r15) by number, from one `g` packet."""
        self.halt()
        reply = self.request(b"g")
        values = []
        for n in numbers:
            digits = reply[2 * REGISTER_BYTES * n : 2 * REGISTER_BYTES * (n + 1)]
            if len(digits) != 2 * REGISTER_BYTES:
                raise LinkError(f"{self.name}: the register packet has no register {n} ({len(reply)} hex digits)")
            values.append(int.from_bytes(bytes.fromhex(digits.decode()), "little"))
        return tuple(values)

    def set_return_breakpoint(self, function: int) -> None:
        """A breakpoint at the entry of a function that has no effect. QEMU stops again at once when it continues
        from a breakpoint, and stepping over it costs ~10 ms a halt in QEMU 7.2; so resume() leaves such a
        breakpoint by returning to the caller (PC = LR, Thumb bit included), which is all the function does."""
        self.halt()
        if self.request(b"Z0,%x,%x" % (function & ~1, THUMB_BREAKPOINT_KIND)) != b"OK":
            raise LinkError(f"{self.name}: refused a breakpoint at 0x{function:08x}")
        self.breakpoints.add(function & ~1)

    def resume(self) -> None:
        """Continues the target; its stop reply is collected by wait_stop."""
        if self.running:
            return
        command = b"c"
        if self.breakpoints:
            lr, pc = self.registers(LR, PC)
            if pc in self.breakpoints:
                command = b"c%x" % lr
        self._send_packet(command)
        self._resume_command = command
        self._ack_pending = self._acks
        self.running = True

    def wait_stop(self, timeout: float) -> StopReply | None:
        """The stop reply of a running target, or None when it still runs after timeout."""
        if not self.running:
            raise LinkError(f"{self.name}: wait_stop called while the target is halted")
        deadline = time.monotonic() + timeout
        try:
            if self._ack_pending:
                self._await_ack(self._resume_command, deadline)
                self._ack_pending = False
            while True:
                packet = self._receive_packet(deadline)
                if not packet.startswith(b"O") or packet == b"OK":
                    break
        except TimeoutError:
            return None
        self.running = False
        stop = parse_stop_reply(packet)
        if stop.exited:
            raise LinkError(f"{self.name}: the target exited ({stop.kind}{stop.signal:02x})")
        return stop

    def halt(self) -> None:
        """Stops a running target (a no-op when it is halted already)."""
        if not self.running:
            return
        try:
            self._socket.sendall(INTERRUPT)
        except OSError as e:
            raise LinkError(f"{self.name}: cannot interrupt the target ({e})") from e
        if self.wait_stop(self.timeout) is None:
            raise LinkError(f"{self.name}: the target did not stop within {self.timeout:g} s of an interrupt")


class GdbMemoryAccess(MemoryAccess):
    """Device memory through a gdbstub that reaches memory only while the target is halted (QEMU 7.2 has
    no non-stop mode): the target runs until it reaches the breakpoint at its wait function."""

    halts_target = True

    def __init__(self, remote: GdbRemote, wait_address: int) -> None:
        self.remote = remote
        remote.set_return_breakpoint(wait_address)

    def read(self, address: int, size: int) -> bytes:
        return self.remote.read_memory(address, size)

    def write(self, address: int, data: bytes) -> None:
        self.remote.write_memory(address, data)

    def run_until_service(self, timeout: float) -> bool:
        self.remote.resume()
        return self.remote.wait_stop(timeout) is not None

    def close(self) -> None:
        self.remote.close()
