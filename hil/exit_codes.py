"""Exit codes of a pytest run with the plugin (pytest's own 0-5, then the harness's) and of the `hil` command,
one table for both: `hil` returns TESTS_FAILED when outputs differ or a night is bad, USAGE_ERROR for a
mistake in what it was asked (one line says which), NO_DEVICE when the board or probe cannot be reached."""

from __future__ import annotations

TESTS_FAILED = 1
USAGE_ERROR = 4  # pytest.UsageError: images, board, toolchain, QEMU or model, found before any test
NO_DEVICE = 6  # found by a worker once it held its board: no probe, port busy, no COM port; reported once
