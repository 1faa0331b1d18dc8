"""A device log per test: the link's frames, INFO and timings of that test alone, linked from its report row."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

TWO_RUNS = """
import numpy as np
from hil import conv_test_model

def test_first(dut):
    dut.infer([np.zeros(conv_test_model.INPUT.shape, dtype=np.int8)])

def test_second(dut):
    dut.infer([np.ones(conv_test_model.INPUT.shape, dtype=np.int8)])
    dut.infer([np.ones(conv_test_model.INPUT.shape, dtype=np.int8)])
"""


def test_each_test_has_its_own_device_log(pytester: pytest.Pytester, tmp_path) -> None:
    pytester.makepyfile(test_two=TWO_RUNS)
    out = tmp_path / "run"
    result = pytester.runpytest_subprocess("--emulate", "qemu", "--hil-out", str(out), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    logs = {p.name: p.read_text() for p in (out / "logs").iterdir()}
    first, second = logs["test_two.py_test_first.log"], logs["test_two.py_test_second.log"]
    assert first.startswith("test test_two.py::test_first")
    assert "INFO DeviceInfo(" in first  # the session's device said who it is during the first test
    assert first.count(": inference ") == 1 and second.count(": inference ") == 2
    assert "-> INPUT seq" in second and "<- RESULT seq" in second
    assert "Captured log" not in result.stdout.str()
    page = (out / "index.html").read_text()
    assert "logs/test_two.py_test_first.log" in page and "logs/test_two.py_test_second.log" in page
    assert json.loads((out / "results.json").read_text())["outcome"]["passed"] == 2


PLAIN_AND_RECORDING = """
def test_plain():
    assert 1 + 1 == 2

def test_recording(hil_results):
    hil_results.metric("answer", 42)
"""


def test_a_test_without_the_harness_fixtures_keeps_no_log(pytester: pytest.Pytester, tmp_path) -> None:
    """The harness's own tests run with this plugin active; a test that neither talks to a device nor records
    results must not add a log (without --hil-out that log made a run folder in the repo's reports/)."""
    pytester.makepyfile(test_mixed=PLAIN_AND_RECORDING)
    out = tmp_path / "run"
    result = pytester.runpytest_subprocess("--hil-out", str(out), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["test_mixed.py_test_recording.log"]
    page = (out / "index.html").read_text()
    assert "logs/test_mixed.py_test_recording.log" in page and "logs/test_mixed.py_test_plain.log" not in page
