"""What the controller can check before any test runs: each wrong setting is one `pytest.UsageError`
line (pytest's exit code 4, also under xdist, where it stops the run before workers start), instead of
a traceback or the same error once per test."""

from __future__ import annotations

import shutil

import pytest

from hil.board_description import available_boards
from hil.errors import HilError
from hil.plugin.options import _DEFAULTS, HilOptions
from hil.targets.qemu import QEMU

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _given(config: pytest.Config, ini: str) -> bool:
    """Whether the run names this setting itself (command line, or an ini value other than the default)."""
    return config.getoption(ini) is not None or config.getini(ini) != _DEFAULTS.get(ini, "")


def _check_images(options: HilOptions) -> None:
    import cv2

    folder = options.images
    if not folder.is_dir():
        raise pytest.UsageError(f"--images {folder}: no such folder; expected a folder of test images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise pytest.UsageError(f"--images {folder}: no {'/'.join(IMAGE_SUFFIXES)} images there")
    for path in files:
        if cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) is None:
            raise pytest.UsageError(f"--images: {path} is not a readable image (expected {'/'.join(IMAGE_SUFFIXES)})")


def check_setup(config: pytest.Config, options: HilOptions) -> None:
    """Raises one UsageError for the first setting that cannot work; checks only what the run asks for."""
    if options.farm is None and options.board not in available_boards():
        raise pytest.UsageError(
            f"--board {options.board}: unknown board; expected one of {', '.join(available_boards())}"
        )
    if _given(config, "hil_model"):
        from hil.catalog import resolve_model

        for model in options.models:
            try:
                resolve_model(model)
            except HilError as e:
                raise pytest.UsageError(str(e)) from None  # it names --model and what was expected
    if options.images is not None:
        _check_images(options)
    if options.emulate or _given(config, "hil_board"):
        from hil.build.toolchain import arm_toolchain

        try:
            arm_toolchain()
        except HilError as e:
            raise pytest.UsageError(f"hil: {e}") from None
    if options.emulate == "qemu" and shutil.which(QEMU) is None:
        raise pytest.UsageError(
            f"--emulate qemu: {QEMU} is not on PATH; install it with: apt-get install qemu-system-arm"
        )
