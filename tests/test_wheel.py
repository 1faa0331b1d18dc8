"""The wheel works on its own: built from the checkout, installed into a fresh virtualenv outside it, `hil boards`
lists the boards and `hil build` builds firmware from the C sources the wheel carries (package data).

The fresh environment borrows the heavy dependencies (torch, numpy, ...) from this one through a .pth line
holding only its site-packages path (no editable-install hooks run from there), so nothing is downloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 300


def _run(*argv: str | Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=True
    )


def test_the_installed_wheel_lists_boards_and_builds_firmware(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, REPO, cwd=REPO)
    (wheel,) = wheels.glob("hil-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).stdout.strip()
    )
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel, cwd=tmp_path)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "HIL_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": ""}
    where = _run(python, "-c", "import hil.paths as p; print(p.FIRMWARE_DIR)", cwd=work, env=env).stdout.strip()
    assert Path(where).is_relative_to(site), where

    boards = json.loads(_run(venv / "bin" / "hil", "boards", "--json", cwd=work, env=env).stdout)
    assert {b["name"] for b in boards["boards"]} >= {"mps2-an386", "nucleo-f439zi"}
    built = json.loads(_run(venv / "bin" / "hil", "build", "--board", "mps2-an386", "--json", cwd=work, env=env).stdout)
    assert built["footprint"]["flash_bytes"] > 0
    assert Path(built["elf"]).is_relative_to(tmp_path / "cache"), built["elf"]
    assert not (site / "build").exists()
