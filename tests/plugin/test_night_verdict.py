"""The verdict on a night, from run folders written by the run's own recorder: like with like only, failing
nights that fail, improvements that don't, and series retired on purpose."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hil.exit_codes import USAGE_ERROR
from hil.report.results import MetricRow, ResultsRecorder
from hil.report.trends import build_trends

REPO = Path(__file__).resolve().parents[2]
MODELS = ("rnnpool_face_m4", "rnnpool_face_qvga")
BASE = {
    "rnnpool_face_m4": {"latency_median": 250e6, "flash_bytes": 80_028.0, "ap50_device": 0.86},
    "rnnpool_face_qvga": {"latency_median": 500e6, "flash_bytes": 375_088.0, "ap50_device": 0.91},
}
BETTER = {"ap50_device": "higher"}
UNIT = {"latency_median": "instructions", "flash_bytes": "B"}


def write_run(
    history: Path,
    name: str,
    changes: dict[tuple[str, str], float] | None = None,
    errors: int = 0,
    images: str = "synthetic test x8",
    drop: tuple[tuple[str, str], ...] = (),
    wall: dict[str, float] | None = None,
) -> None:
    """One night of both face models under QEMU; changes multiply a (model, metric)."""
    metadata = {"started_utc": name, "board": "nucleo-f439zi", "emulate": "qemu", "transport": "uart"}
    recorder = ResultsRecorder(history / name, {**metadata, "images": images})
    for model in MODELS:
        for metric, value in BASE[model].items():
            if (model, metric) in drop:
                continue
            value *= (changes or {}).get((model, metric), 1.0)
            recorder.add(
                MetricRow("t", metric, value, UNIT.get(metric, ""), better=BETTER.get(metric, "lower"), model=model)
            )
        if wall:
            recorder.add(MetricRow("t", "wall_time_s", wall[model], "s", model=model))
    recorder.finish({"passed": 12 - errors, "failed": 0, "error": errors, "complete": True})


def report(history: Path, *args: str) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "hil.cli", "report", str(history), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    return result.returncode, json.loads(result.stdout)


def test_three_nights_flag_m4_latency_and_the_errored_run_and_not_the_qvga(tmp_path: Path) -> None:
    history = tmp_path / "history"
    write_run(history, "20261201-020000")
    write_run(history, "20261202-020000")
    write_run(history, "20261203-020000", {("rnnpool_face_m4", "latency_median"): 1.10}, errors=1)
    code, verdict = report(history)
    assert code == 1 and verdict["failed"]
    assert [r["series"].split("@")[0] for r in verdict["regressions"]] == ["rnnpool_face_m4/latency_median"]
    assert verdict["regressions"][0]["change"] == pytest.approx(0.10)
    assert verdict["failures"] == ["1 test(s) errored"]
    assert not any("qvga" in r["series"] for r in verdict["regressions"] + verdict["improvements"])


def test_a_30_percent_flash_increase_reads_30_percent(tmp_path: Path) -> None:
    history = tmp_path / "history"
    write_run(history, "20261201-020000")
    write_run(history, "20261202-020000", {("rnnpool_face_m4", "flash_bytes"): 1.30})
    _, verdict = report(history)
    (flash,) = verdict["regressions"]
    assert flash["series"].startswith("rnnpool_face_m4/flash_bytes@") and flash["change"] == pytest.approx(0.30)
    _, _, runs = build_trends(history)
    assert "+30.0 % worse" in (history / "trends.html").read_text()
    assert len(runs) == 2


def test_an_improvement_is_reported_and_does_not_fail(tmp_path: Path) -> None:
    history = tmp_path / "history"
    write_run(history, "20261201-020000")
    write_run(history, "20261202-020000", {("rnnpool_face_m4", "latency_median"): 0.90})
    code, verdict = report(history)
    assert code == 0 and not verdict["failed"]
    assert [r["change"] for r in verdict["improvements"]] == [pytest.approx(-0.10)]


def test_other_images_are_not_compared_and_say_so(tmp_path: Path) -> None:
    history = tmp_path / "history"
    write_run(history, "20261201-020000")
    write_run(history, "20261202-020000", {("rnnpool_face_m4", "latency_median"): 1.5}, images="photos/")
    code, verdict = report(history)
    assert code == 0 and verdict["baseline"] is None and not verdict["regressions"]


@pytest.mark.parametrize(
    ("night", "failure"),
    [
        ({"errors": 15, "drop": tuple((m, k) for m in MODELS for k in BASE[m])}, "the run measured nothing"),
    ],
)
def test_an_empty_errored_night_fails(tmp_path: Path, night: dict, failure: str) -> None:
    history = tmp_path / "history"
    write_run(history, "20261201-020000")
    write_run(history, "20261202-020000", **night)
    code, verdict = report(history)
    assert code == 1 and failure in verdict["failures"] and "15 test(s) errored" in verdict["failures"]


def test_a_vanished_series_fails_until_accepted_and_a_new_one_is_new(tmp_path: Path) -> None:
    history = tmp_path / "history"
    write_run(history, "20261201-020000")
    write_run(history, "20261202-020000", drop=(("rnnpool_face_qvga", "ap50_device"),))
    code, verdict = report(history)
    assert code == 1 and [s.split("@")[0] for s in verdict["missing_series"]] == ["rnnpool_face_qvga/ap50_device"]
    code, verdict = report(history, "--accept", "rnnpool_face_qvga/ap50_device")
    assert code == 0 and [s.split("@")[0] for s in verdict["retired_series"]] == ["rnnpool_face_qvga/ap50_device"]
    write_run(history, "20261203-020000", drop=(("rnnpool_face_qvga", "ap50_device"),), wall={m: 5.0 for m in MODELS})
    code, verdict = report(history)
    assert code == 0 and len(verdict["new_series"]) == 2 and not verdict["missing_series"]


def test_accept_makes_tonight_the_baseline_of_a_series(tmp_path: Path) -> None:
    history = tmp_path / "history"
    write_run(history, "20261201-020000")
    write_run(history, "20261202-020000", {("rnnpool_face_m4", "flash_bytes"): 1.2})
    assert report(history)[0] == 1
    code, verdict = report(history, "--accept", "rnnpool_face_m4/flash_bytes")
    assert code == 0 and len(verdict["accepted_series"]) == 1
    write_run(history, "20261203-020000", {("rnnpool_face_m4", "flash_bytes"): 1.2})
    assert report(history, "--baseline", "20261201")[0] == 0  # the accepted value, not the older one


def test_baseline_forms(tmp_path: Path) -> None:
    history = tmp_path / "history"
    write_run(history, "20261201-020000")
    write_run(history, "20261202-020000", errors=2)
    write_run(history, "20261203-020000", {("rnnpool_face_m4", "latency_median"): 1.10})
    assert report(history, "--baseline", "last-passing")[1]["baseline"] == "20261201-020000"
    assert report(history, "--baseline", "20261202")[1]["baseline"] == "20261202-020000"
    assert report(history, "--baseline", str(history / "20261201-020000"))[1]["baseline"] == "20261201-020000"
    code, result = report(history, "--baseline", "20251231")
    assert code == USAGE_ERROR and "no earlier run of that name or date prefix" in result["error"]


def test_noisy_figures_fail_only_beyond_the_spread_of_recent_runs(tmp_path: Path) -> None:
    history = tmp_path / "history"
    for day, wall in enumerate((5.0, 6.0, 4.5, 5.5, 5.2)):
        write_run(history, f"2026120{day + 1}-020000", wall={m: wall for m in MODELS})
    write_run(history, "20261206-020000", wall={"rnnpool_face_m4": 6.1, "rnnpool_face_qvga": 9.0})
    _, verdict = report(history)
    assert [r["series"].split("@")[0] for r in verdict["regressions"]] == ["rnnpool_face_qvga/wall_time_s"]
