"""What a run ran on: commit, host, toolchain and emulator versions, board, firmware and model hashes."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from pathlib import Path

from hil import __version__
from hil.build.toolchain import arm_toolchain, qemu_version
from hil.errors import HilError

REPO_ROOT = Path(__file__).resolve().parents[2]


def git_commit(repo: Path = REPO_ROOT) -> str:
    """The checked-out commit, with '+dirty' when the tree has changes; 'unknown' outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def run_metadata(extra: dict | None = None) -> dict:
    """The fields every result row and report carries."""
    try:
        toolchain = arm_toolchain().version
    except HilError as e:
        toolchain = f"missing ({e})"
    return {
        "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "hil_version": __version__,
        "host": platform.node(),
        "python": platform.python_version(),
        "toolchain": toolchain,
        "qemu": qemu_version("qemu-system-arm"),
        **(extra or {}),
    }
