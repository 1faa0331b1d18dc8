"""A progress line on the terminal from inside a test or a long setup step, past pytest's output capture, so a
long test (a whole image set, a compile) does not sit silent."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import pytest

from hil.compiler.progress import progress_to


def progress(config: pytest.Config, text: str) -> None:
    """Writes text as its own line on the run's terminal. An xdist worker has no terminal of its own, but its
    stderr is the run's: there the line goes, after the worker's name ("[gw0] hil: ..."), so the compile each
    worker of `pytest -n 2` or of a farm run waits on is not silent."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    worker = getattr(config, "workerinput", {}).get("workerid")
    if reporter is None and worker is None:
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        if worker is None:
            reporter.ensure_newline()
            reporter.write_line(text)
        else:
            print(f"[{worker}] {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def compiler_progress(config: pytest.Config) -> Iterator[None]:
    """While it lasts, the compiler's progress lines go to the terminal: a face model's first compile takes minutes
    before the first test."""

    class Terminal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            progress(config, f"hil: {record.getMessage()}")

    with progress_to(Terminal()):
        yield
