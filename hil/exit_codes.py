"""Exit codes of a pytest run with the plugin: pytest's own (0-5), then the harness's. `hil` returns 0, 1 (the
outputs differ, or a bad night) and 2 (a mistake in what it was asked: one line says which)."""

from __future__ import annotations

TESTS_FAILED = 1
USAGE_ERROR = 4  # pytest.UsageError: images, board, toolchain, QEMU or model, found before any test
NO_DEVICE = 6  # found by a worker once it held its board: no probe, port busy, no COM port; reported once
