"""Which programs hold a serial device open: read from /proc, so a busy port's error names its holder (a
terminal without a lock, like screen, is invisible to flock)."""

from __future__ import annotations

import os
from pathlib import Path


def port_holders(device: str, proc: Path = Path("/proc")) -> list[str]:
    """'name (pid N)' of every other process with device open; empty where /proc cannot tell."""
    try:
        target = os.path.realpath(device)
    except OSError:
        return []
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
                if os.path.realpath(fd) == target:
                    name = (entry / "comm").read_text().strip()
                    holders.append(f"{name} (pid {entry.name})")
                    break
            except OSError:
                continue
    return sorted(holders)
