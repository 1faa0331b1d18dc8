"""Figures for dashboards: `--hil-metrics` in the Prometheus text format (read back with
prometheus_client's own parser) and a JUnit property per figure, through a real pytest run."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytest_plugins = ["pytester"]

MEASURING_TESTS = """
def test_latency(hil_results):
    hil_results.metric("latency_median", 27244960, "instructions")
    hil_results.metric("snr_db", 31.5, "dB", better="higher", item='img "1"')

def test_fails(hil_results):
    hil_results.metric("mismatched_values", 3, threshold=0, passed=False)
    assert False, "on purpose"
"""


def test_metrics_file_parses_and_junit_carries_each_figure(pytester: pytest.Pytester, tmp_path):
    pytester.makepyfile(test_measuring=MEASURING_TESTS)
    out, metrics = tmp_path / "run", tmp_path / "textfile" / "hil.prom"
    result = pytester.runpytest_subprocess(
        "--hil-out", str(out), "--hil-metrics", str(metrics), "--model", "conv_test_model", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=1)

    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    latency = families["hil_latency_median"]
    assert latency.type == "gauge"
    (sample,) = latency.samples
    assert sample.value == 27244960
    assert sample.labels["test"] == "test_measuring.py::test_latency"
    assert sample.labels["unit"] == "instructions"
    assert sample.labels["model"] == "conv_test_model" and sample.labels["transport"] == "uart"
    assert families["hil_snr_db"].samples[0].labels["item"] == 'img "1"'
    assert families["hil_mismatched_values"].samples[0].value == 3
    by_outcome = {s.labels["outcome"]: s.value for s in families["hil_tests"].samples}
    assert by_outcome["passed"] == 1 and by_outcome["failed"] == 1
    assert families["hil_run_started_timestamp_seconds"].samples[0].value > 1.7e9

    cases = {case.get("name"): case for case in ET.parse(out / "junit.xml").getroot().iter("testcase")}
    properties = {p.get("name"): p.get("value") for p in cases["test_latency"].iter("property")}
    assert properties == {"latency_median": "27244960", 'snr_db[img "1"]': "31.5"}
    failed = {p.get("name"): p.get("value") for p in cases["test_fails"].iter("property")}
    assert failed == {"mismatched_values": "3"}


def test_metrics_without_a_recorded_figure_still_count_the_tests(pytester: pytest.Pytester, tmp_path):
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    metrics = tmp_path / "hil.prom"
    pytester.runpytest_subprocess("--hil-metrics", str(metrics), "-p", "no:cacheprovider").assert_outcomes(passed=1)
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    assert {s.labels["outcome"]: s.value for s in families["hil_tests"].samples}["passed"] == 1


def test_collect_only_writes_no_metrics(pytester: pytest.Pytester, tmp_path):
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    metrics = tmp_path / "hil.prom"
    pytester.runpytest_subprocess("--hil-metrics", str(metrics), "--collect-only", "-p", "no:cacheprovider")
    assert not metrics.exists()
