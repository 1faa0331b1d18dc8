"""What the controller can check before any test runs: each mistake is one `pytest.UsageError` line (exit 4),
printed once for the run rather than once per test, under pytest-xdist too (workers are never started)."""

from __future__ import annotations

import shutil

import pytest

from hil.catalog.preprocess import no_pictures, picture_files
from hil.catalog.truth import truth_sources
from hil.errors import HilError
from hil.plugin.options import HilOptions
from hil.plugin.results_fixture import worker_id


def _check_images(options: HilOptions) -> None:
    images = options.images
    if images is None:
        return
    if not images.exists():
        raise pytest.UsageError(f"--images {images}: no such folder")
    if not images.is_dir():
        raise pytest.UsageError(f"--images {images}: not a folder; expected a folder of images")
    if not picture_files(images):
        raise pytest.UsageError(no_pictures("--images", images))


def _check_truth(options: HilOptions) -> None:
    if options.truth is None:
        return
    if options.images is None:
        raise pytest.UsageError(f"--hil-truth {options.truth}: truth for --images, which is not given; expected both")
    try:
        truth_sources(options.images, options.truth)
    except HilError as e:
        raise pytest.UsageError(f"--hil-truth {e}") from None


# Each numeric option: its flag, its HilOptions field, whether a value is valid, and what is expected instead. A
# budget of 0 would read as "none given" (test_latency falls back to the model's), a negative timeout as no wait.
_NUMBERS = (
    ("--hil-baud", "baud", lambda v: v > 0, "a baud rate above 0"),
    ("--hil-run-timeout", "run_timeout", lambda v: v > 0, "seconds above 0"),
    ("--hil-ram-budget", "ram_budget", lambda v: v > 0, "bytes above 0"),
    ("--hil-flash-budget", "flash_budget", lambda v: v > 0, "bytes above 0"),
    ("--hil-latency-budget", "latency_budget", lambda v: v > 0, "instructions or cycles above 0"),
    ("--hil-retries", "retries", lambda v: v >= 0, "0 or more reruns"),
    ("--hil-image-count", "image_count", lambda v: v >= 1, "1 or more images"),
    ("--hil-images-sample", "images_sample", lambda v: v >= 1, "1 or more pictures"),
    ("--hil-min-recall", "min_recall", lambda v: 0 <= v <= 1, "a fraction in 0..1"),
    ("--hil-min-precision", "min_precision", lambda v: 0 <= v <= 1, "a fraction in 0..1"),
    ("--hil-score-margin", "score_margin", lambda v: 0 <= v <= 0.5, "a score distance in 0..0.5"),
    ("--hil-ap-tolerance", "ap_tolerance", lambda v: 0 <= v <= 1, "an AP drop in 0..1"),
)


def _check_numbers(options: HilOptions) -> None:
    for flag, field, valid, expected in _NUMBERS:
        value = getattr(options, field)
        if value is not None and not valid(value):
            raise pytest.UsageError(f"{flag} {value}: expected {expected}")


def _check_target(options: HilOptions) -> None:
    from hil.board_description import load_board

    if options.farm is None:
        try:
            load_board(options.board)
        except HilError as e:
            raise pytest.UsageError(f"--board {options.board}: {e}") from None
    if options.emulate == "qemu" and shutil.which("qemu-system-arm") is None:
        raise pytest.UsageError("--emulate qemu: qemu-system-arm is not installed (apt-get install qemu-system-arm)")
    if shutil.which("arm-none-eabi-gcc") is None:
        raise pytest.UsageError(
            "arm-none-eabi-gcc is not installed, so no firmware can be built "
            "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
        )


def _check_models(options: HilOptions) -> None:
    from hil.catalog import resolve_model

    for model in options.models:
        try:
            resolve_model(model)
        except HilError as e:
            raise pytest.UsageError(str(e)) from None


def check_setup(config: pytest.Config, options: HilOptions) -> None:
    """Numeric options and images of any run; board, toolchain, emulator and models of a run that goes to a target;
    nothing on a worker."""
    if worker_id(config) is not None:
        return
    _check_numbers(options)
    _check_images(options)
    _check_truth(options)
    asked = any(config.getoption(name, default=None) for name in ("hil_emulate", "hil_board", "hil_model", "hil_farm"))
    if not asked:
        return  # no target or model named: the harness's own tests, or tests that need no device
    _check_target(options)
    _check_models(options)
