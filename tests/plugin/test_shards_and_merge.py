"""Sharding across machines: `--hil-shard 1/2` and `2/2` on the conv test model under QEMU, put back
together by `hil report --merge`, give the same results as one unsharded run. Each shard gets one
test on the device and one without it (shards are contiguous parts of the collection order)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

PARITY_TESTS = """
import numpy as np
import pytest
from hil import conv_test_model

def test_host_only(hil_results):
    hil_results.metric("constant", 7)

@pytest.mark.parametrize("seed", range(2))
def test_parity(dut, hil_results, seed):
    image = np.random.default_rng(seed).integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
    run = dut.infer([image])
    hil_results.metric("mismatched_values", int((run.outputs[0] != conv_test_model.reference(image)).sum()))
    hil_results.metric("output_sum", int(run.outputs[0].astype(np.int64).sum()), item=f"seed {seed}")
    assert (run.outputs[0] == conv_test_model.reference(image)).all()

def test_known_failure():
    assert False, "on purpose"
"""


def _run(pytester: pytest.Pytester, out, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--emulate", "qemu", "--board", "mps2-an386", "--hil-out", str(out), "-p", "no:cacheprovider", *args
    )


def _rows(run_dir) -> list[tuple]:
    return sorted(
        (r["test"], r["metric"], r["value"], r["item"])
        for r in json.loads((run_dir / "results.json").read_text())["rows"]
    )


def _cases(run_dir) -> list[tuple]:
    cases = ET.parse(run_dir / "junit.xml").getroot().iter("testcase")
    return sorted((c.get("classname"), c.get("name"), [e.tag for e in c if e.tag != "properties"]) for c in cases)


def test_two_shards_merged_equal_one_unsharded_run(pytester: pytest.Pytester, tmp_path):
    pytester.makepyfile(test_parity=PARITY_TESTS)
    whole, first, second, merged = (tmp_path / name for name in ("whole", "shard1", "shard2", "merged"))
    _run(pytester, whole).assert_outcomes(passed=3, failed=1)
    first_run, second_run = _run(pytester, first, "--hil-shard", "1/2"), _run(pytester, second, "--hil-shard", "2/2")
    first_run.stdout.fnmatch_lines(["*2 deselected*"])
    second_run.stdout.fnmatch_lines(["*2 deselected*"])
    assert not {c[:2] for c in _cases(first)} & {c[:2] for c in _cases(second)}, "the shards overlap"

    result = subprocess.run(
        [sys.executable, "-m", "hil.cli", "report", "--merge", str(first), str(second), "-o", str(merged)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _rows(merged) == _rows(whole)
    assert _cases(merged) == _cases(whole)
    outcome = json.loads((merged / "results.json").read_text())["outcome"]
    expected = json.loads((whole / "results.json").read_text())["outcome"]
    assert {k: outcome[k] for k in ("passed", "failed", "exitstatus")} == {"passed": 3, "failed": 1, "exitstatus": 1}
    assert {k: expected[k] for k in ("passed", "failed", "exitstatus")} == {"passed": 3, "failed": 1, "exitstatus": 1}
    assert json.loads((merged / "results.json").read_text())["metadata"]["shards"] == ["1/2", "2/2"]
    page = (merged / "index.html").read_text()
    assert "<span class='verdict fail'>FAIL</span> conv_test_model</h3><p>1 failed, 3 passed</p>" in page
    assert "yes, all 2 inputs" in page  # bit-exact on both seeds, over both shards
    assert page.count("<tr class='passed'>") == 3 and page.count("<tr class='failed'>") == 1
    assert len((merged / "results.jsonl").read_text().splitlines()) == 1 + len(_rows(whole))


def test_a_malformed_shard_is_one_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("--hil-shard", "3/2", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--hil-shard '3/2': expected INDEX/COUNT with 1 <= INDEX <= COUNT" in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
