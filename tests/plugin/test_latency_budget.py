"""The latency test holds the median inference to a budget: `--hil-latency-budget` in the run's unit, else the
model spec's instruction budget under an emulator (the face models carry issue 12's). Real QEMU runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def _latency_run(pytester: pytest.Pytester, out: Path, *extra: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        str(REPO / "test_cases"),
        *("--emulate", "qemu", "--model", "conv_test_model", "--hil-transport", "semihosting"),
        *("-k", "latency", "-p", "no:cacheprovider", "--hil-out", str(out), *extra),
    )


def _median(out: Path) -> dict:
    rows = json.loads((out / "results.json").read_text())["rows"]
    return next(row for row in rows if row["metric"] == "latency_median")


def test_a_latency_over_the_budget_fails_naming_both(pytester: pytest.Pytester, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    _latency_run(pytester, tmp_path / "free").assert_outcomes(passed=1)
    median = _median(tmp_path / "free")
    assert median["threshold"] is None and median["value"] > 0  # the model's spec sets no budget

    within = _latency_run(pytester, tmp_path / "within", "--hil-latency-budget", f"{median['value']:.0f}")
    within.assert_outcomes(passed=1)
    # a figure with a threshold records whether it met it (hil_results.metric derives it)
    assert _median(tmp_path / "within")["threshold"] == median["value"]
    assert _median(tmp_path / "within")["passed"] is True

    limit = int(median["value"]) - 1
    over = _latency_run(pytester, tmp_path / "over", "--hil-latency-budget", str(limit))
    over.assert_outcomes(failed=1)
    over.stdout.fnmatch_lines(
        [f"*latency median {median['value']:,.0f} instructions over the budget of {limit:,} (--hil-latency-budget)*"]
    )
    assert _median(tmp_path / "over")["passed"] is False


def test_the_face_models_carry_issue_12s_instruction_budget() -> None:
    """5 % over the all-int8 models' instructions (hil/catalog/entries.py says how they were measured)."""
    from hil.catalog import resolve_model

    budgets = {
        name: resolve_model(name).budgets.latency_instructions for name in ("rnnpool_face_m4", "rnnpool_face_qvga")
    }
    assert budgets == {"rnnpool_face_m4": 266_029_538, "rnnpool_face_qvga": 508_286_588}
