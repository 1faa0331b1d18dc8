"""A progress line on the terminal from inside a test or a long setup step, past pytest's output capture, so a
long test (a whole image set, a compile) does not sit silent."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

from hil.compiler.progress import progress_to


def progress(config: pytest.Config, text: str) -> None:
    """Writes text as its own line on the run's terminal (nothing under an xdist worker, which has none)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or hasattr(config, "workerinput"):
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.ensure_newline()
        reporter.write_line(text)


@contextlib.contextmanager
def compiler_progress(config: pytest.Config) -> Iterator[None]:
    """While it lasts, the compiler's progress lines go to the terminal: a face model's first compile takes minutes
    before the first test."""

    class Terminal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            progress(config, f"hil: {record.getMessage()}")

    with progress_to(Terminal()):
        yield
