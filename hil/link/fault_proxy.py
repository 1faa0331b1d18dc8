"""Damage to the bytes a link moves: flipped bits, dropped bytes, cut-off bursts, drawn from a seeded RNG so a
failing run can be replayed. FaultyProxy applies it both ways between the host and QEMU's UART socket;
hil.link.faulty_memory applies it to the rtt rings' payload bytes."""

from __future__ import annotations

import random
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class FaultRates:
    """Probabilities per forwarded byte."""

    flip: float = 0.0
    drop: float = 0.0
    burst: float = 0.0  # drop this byte and the next 1..64: a truncated frame
    counts: dict[str, int] = field(default_factory=lambda: {"flip": 0, "drop": 0, "burst": 0})


class ByteDamage:
    """Applies FaultRates to byte strings; one RNG under one lock, so threads share one replayable sequence."""

    def __init__(self, rates: FaultRates, seed: int) -> None:
        self.rates = rates
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def __call__(self, data: bytes) -> bytes:
        out = bytearray()
        skip = 0
        with self.lock:
            for b in data:
                if skip:
                    skip -= 1
                    continue
                r = self.rng.random()
                if r < self.rates.burst:
                    self.rates.counts["burst"] += 1
                    skip = self.rng.randint(1, 64)
                elif r < self.rates.burst + self.rates.drop:
                    self.rates.counts["drop"] += 1
                elif r < self.rates.burst + self.rates.drop + self.rates.flip:
                    self.rates.counts["flip"] += 1
                    out.append(b ^ (1 << self.rng.randrange(8)))
                else:
                    out.append(b)
        return bytes(out)


class FaultyProxy:
    """Listens on 127.0.0.1:port and forwards to upstream, damaging bytes both ways."""

    def __init__(self, upstream_port: int, rates: FaultRates, seed: int) -> None:
        self.upstream_port = upstream_port
        self.rates = rates
        self.damage = ByteDamage(rates, seed)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            client, _ = self.server.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        upstream.settimeout(None)
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sockets += [client, upstream]
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(4096):
                sink.sendall(self.damage(data))
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        for s in self.sockets:
            s.close()
