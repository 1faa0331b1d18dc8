"""The plugin's results files and `hil report` trends, through real pytest runs (pytester)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from hil.exit_codes import USAGE_ERROR

pytest_plugins = ["pytester"]

RECORDING_TEST = """
import os

def test_latency(hil_results):
    hil_results.metric("latency_median", float(os.environ["HIL_FAKE_LATENCY"]), "instructions")
    hil_results.metric("ap50", 0.9, better="higher")
    hil_results.table("numbers", [{"a": 1, "b": 2.5}])

def test_fails(hil_results):
    hil_results.metric("mismatched_values", 3, threshold=0, passed=False)
    assert False, "on purpose"
"""


PASSING_RECORDING_TEST = RECORDING_TEST.split("def test_fails")[0]


def _run(pytester: pytest.Pytester, out, latency: float, monkeypatch) -> pytest.RunResult:
    monkeypatch.setenv("HIL_FAKE_LATENCY", str(latency))
    return pytester.runpytest_subprocess("--hil-out", str(out), "-p", "no:cacheprovider")


def test_a_run_writes_results_csv_json_junit_and_html_as_it_goes(pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_recording=RECORDING_TEST)
    result = _run(pytester, tmp_path / "run", 100.0, monkeypatch)
    result.assert_outcomes(passed=1, failed=1)
    out = tmp_path / "run"
    assert {"results.jsonl", "results.csv", "results.json", "junit.xml", "index.html"} <= {
        p.name for p in out.iterdir()
    }
    frame = pd.read_csv(out / "results.csv")
    assert set(frame["metric"]) == {"latency_median", "ap50", "mismatched_values"}
    assert {"run_commit", "run_toolchain", "run_board"} <= set(frame.columns)
    document = json.loads((out / "results.json").read_text())
    assert document["outcome"]["failed"] == 1 and document["outcome"]["passed"] == 1
    assert "numbers" in (out / "index.html").read_text()


def _hil_report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hil.cli", "report", *args], capture_output=True, text=True, timeout=120
    )


def test_trends_over_three_runs_flag_an_injected_latency_regression(pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_recording=PASSING_RECORDING_TEST)
    history = tmp_path / "history"
    for index, latency in enumerate((100.0, 101.0, 111.1)):
        _run(pytester, history / f"run{index}", latency, monkeypatch)
    result = _hil_report(str(history), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["runs"] == ["run0", "run1", "run2"]
    assert [r["series"].split("@")[0] for r in report["regressions"]] == ["conv_test_model/latency_median"]
    page = (history / "trends.html").read_text()
    assert page.count("<img src='data:image/png;base64,") == 1  # latency_median: the only key metric
    assert "latency_median@" in page and "101 -&gt; 111.1 instructions (+10.0 % worse; allowed 5 %)" in page


def test_no_regression_within_the_threshold(pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_recording=PASSING_RECORDING_TEST)
    history = tmp_path / "history"
    for index, latency in enumerate((100.0, 104.0)):
        _run(pytester, history / f"run{index}", latency, monkeypatch)
    result = _hil_report(str(history))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run1: passed against run0" in result.stdout and "REGRESSION" not in result.stdout


def test_a_crashed_run_still_counts_from_its_jsonl(tmp_path):
    from hil.report.results import MetricRow, ResultsRecorder
    from hil.report.trends import load_history

    for name, value in (("a", 1.0), ("b", 2.0)):
        recorder = ResultsRecorder(tmp_path / name, {"started_utc": name})
        recorder.add(MetricRow("t", "latency_median", value))
    runs = load_history(tmp_path)
    assert [float(r.metrics["value"].iloc[0]) for r in runs] == [1.0, 2.0]
    assert runs[0].outcome == {"complete": False}


def test_report_on_a_missing_history_is_one_clear_line(tmp_path):
    result = _hil_report(str(tmp_path / "nowhere"))
    assert result.returncode == USAGE_ERROR
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


FLAKY_TEST = """
from pathlib import Path
from hil.errors import TargetError

def test_board_hiccups_once(hil_results, tmp_path_factory):
    marker = Path(tmp_path_factory.getbasetemp().parent) / "attempted"
    hil_results.metric("attempt", 1)
    if not marker.exists():
        marker.write_text("1")
        raise TargetError("the board did not answer INFO (simulated hiccup)")

def test_real_bug():
    assert 1 == 2
"""


def test_retries_rerun_harness_errors_only_and_mark_them_flaky(pytester, tmp_path):
    pytester.makepyfile(test_flaky=FLAKY_TEST)
    out = tmp_path / "run"
    result = pytester.runpytest_subprocess("--hil-out", str(out), "--hil-retries", "2", "-p", "no:cacheprovider")
    assert result.parseoutcomes() == {"passed": 1, "failed": 1, "rerun": 1}
    outcome = json.loads((out / "results.json").read_text())["outcome"]
    assert outcome["flaky"] == ["test_flaky.py::test_board_hiccups_once"]
    assert outcome["rerun"] == 1
    assert "Rerun" in (out / "index.html").read_text()


def test_a_run_without_hil_out_gets_a_timestamped_folder_under_hil_reports_dir(pytester, tmp_path, monkeypatch):
    """Without --hil-out a run's folder is <reports root>/<UTC time>: $HIL_REPORTS_DIR when set (this suite sets it
    for every run it starts, tests/conftest.py), else the checkout's reports/."""
    from hil.plugin.results_fixture import REPORTS_DIR_VARIABLE

    root = tmp_path / "nightly"
    monkeypatch.setenv(REPORTS_DIR_VARIABLE, str(root))
    pytester.makepyfile(test_recording=PASSING_RECORDING_TEST)
    monkeypatch.setenv("HIL_FAKE_LATENCY", "5")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    (run,) = root.iterdir()
    assert len(run.name) == len("20261206-142104") and run.name[8] == "-"
    rows = pd.read_csv(run / "results.csv")
    assert rows.loc[rows.metric == "latency_median", "value"].tolist() == [5.0]
