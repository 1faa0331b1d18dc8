"""Which programs hold a port: read from /proc, so a busy port's error names its holder. A serial device (a
terminal without a lock, like screen, is invisible to flock), or a local TCP server such as QEMU's UART socket,
which serves one client and leaves a second one's connection unanswered."""

from __future__ import annotations

import os
from pathlib import Path

TCP_ESTABLISHED = "01"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _processes_with(matches, proc: Path) -> list[str]:
    """'name (pid N)' of every other process with an open file descriptor whose link target matches."""
    holders = []
    for entry in proc.glob("[0-9]*"):
        if int(entry.name) == os.getpid():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if matches(os.readlink(fd)):
                    holders.append(f"{(entry / 'comm').read_text().strip()} (pid {entry.name})")
                    break
            except OSError:
                continue
    return sorted(holders)


def port_holders(device: str, proc: Path = Path("/proc")) -> list[str]:
    """'name (pid N)' of every other process with device open; empty where /proc cannot tell."""
    try:
        target = os.path.realpath(device)
    except OSError:
        return []
    return _processes_with(lambda link: os.path.realpath(link) == target, proc)


def _client_socket_inodes(port: int, proc: Path) -> set[str]:
    """Inodes of established TCP connections whose remote end is local port `port` (its clients' sockets)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == TCP_ESTABLISHED and int(fields[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def socket_clients(port: int, proc: Path = Path("/proc")) -> list[str]:
    """'name (pid N)' of every other process connected to the local TCP server on port; empty where /proc
    cannot tell."""
    links = {f"socket:[{inode}]" for inode in _client_socket_inodes(port, proc)}
    return _processes_with(lambda link: link in links, proc) if links else []


def local_socket_port(url: str) -> int | None:
    """The port of a socket://host:port URL on this machine; None for anything else."""
    if not url.startswith("socket://"):
        return None
    host, _, rest = url[len("socket://") :].rpartition(":")
    port = rest.split("?", 1)[0].split("/", 1)[0]
    return int(port) if host in LOCAL_HOSTS and port.isdigit() else None
