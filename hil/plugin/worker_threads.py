"""One math thread per pytest-xdist worker. numpy's OpenBLAS and torch's OpenMP each start a thread per core and
spin while they wait; two workers on two cores then run at a third of their speed (two M4 bit-width searches at
once: 253 s with the default threads, 91 s with one each, 2026-12-06)."""

from __future__ import annotations

import os

import pytest

from hil.plugin.results_fixture import worker_id

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pytest_configure(config: pytest.Config) -> None:
    """On the controller of a run with workers, before it starts them (they inherit its environment); a value the
    user set is kept."""
    if not getattr(config.option, "numprocesses", None) or worker_id(config) is not None:
        return
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
