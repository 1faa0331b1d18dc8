"""Where the harness finds its C sources and board folders, and where it writes builds: beside the package in a
checkout (or an editable install), inside the package when installed from the wheel (package data)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_DIR = PACKAGE_DIR.parent
IN_CHECKOUT = (CHECKOUT_DIR / "pyproject.toml").is_file() and (CHECKOUT_DIR / "firmware").is_dir()
# The wheel ships firmware/ and boards/ as hil/firmware and hil/boards (pyproject.toml's package-dir).
DATA_DIR = CHECKOUT_DIR if IN_CHECKOUT else PACKAGE_DIR
FIRMWARE_DIR = DATA_DIR / "firmware"
BOARDS_DIR = DATA_DIR / "boards"
# Builds go under the checkout's build/; an installed package must not write into site-packages.
WORK_DIR = (
    CHECKOUT_DIR / "build"
    if IN_CHECKOUT
    else Path(
        os.environ.get("HIL_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hil"
    )
)
