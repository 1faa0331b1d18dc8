"""Each pytest-xdist worker does its numpy and torch math on one thread, unless the user chose otherwise."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

RECORD_THREADS = """
import json
import os

import torch


def test_threads():
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    seen = {name: os.environ.get(name) for name in names}
    with open("threads.json", "w") as f:
        json.dump({**seen, "torch": torch.get_num_threads()}, f)
"""


@pytest.mark.parametrize(
    "workers, environment, expected",
    [
        (("-n", "2"), {}, {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "torch": 1}),
        (("-n", "2"), {"OMP_NUM_THREADS": "2"}, {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "1"}),
        (("-n", "0"), {}, {"OMP_NUM_THREADS": None, "OPENBLAS_NUM_THREADS": None, "MKL_NUM_THREADS": None}),
    ],
)
def test_workers_get_one_math_thread(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers, environment, expected
) -> None:
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_threads=RECORD_THREADS)
    result = pytester.runpytest_subprocess(*workers, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    seen = json.loads((pytester.path / "threads.json").read_text())
    assert {name: seen[name] for name in expected} == expected
