"""The report's first screen, as headless Chromium lays it out: the per-model summary (verdict,
figures, change against the run before) above the fold, a title naming the run, tables with the right
columns, no empty log boxes, and pictures small enough that a hundred images stay under 5 MB."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

WINDOW = (1280, 800)
MEASURING_TESTS = """
import os

def test_latency(hil_results):
    latency = float(os.environ["HIL_FAKE_LATENCY"])
    hil_results.metric("latency_median", latency, "instructions")
    hil_results.metric("latency_p95", latency + 40, "instructions")

def test_memory(hil_results):
    hil_results.metric("ram_bytes", 158_000, "B", threshold=185 * 1024)
    hil_results.metric("flash_bytes", 80_028, "B", threshold=160 * 1024)
    hil_results.table("mixed rows", [{"output": "heads", "snr_db": 31.5}, {"output": "detections", "recall": 1.0}])

def test_bit_exact(hil_results):
    for image in ("a", "b"):
        hil_results.metric("scores_mismatched_vs_reference", 0, threshold=0, passed=True, item=image)
        hil_results.metric("scores_snr_db", 31.5, "dB", threshold=10, passed=True, better="higher", item=image)
"""

# Appended to a copy of the page: where the summary ends, read back from the dumped DOM.
MEASURE = """<script>window.addEventListener('load', () => setTimeout(() => {
  const box = document.querySelector('.hil-summary').getBoundingClientRect();
  document.body.setAttribute('data-summary-bottom', String(box.bottom));
  document.body.setAttribute('data-window-height', String(window.innerHeight));
}, 200));</script>"""


def _chromium(tmp_path: Path, page: Path, *args: str) -> str:
    return subprocess.run(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--virtual-time-budget=5000", *args, page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip


def _run(pytester: pytest.Pytester, out: Path, latency: float, monkeypatch) -> None:
    monkeypatch.setenv("HIL_FAKE_LATENCY", str(latency))
    pytester.runpytest_subprocess("--hil-out", str(out), "-p", "no:cacheprovider").assert_outcomes(passed=3)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_summary_is_the_first_screen(pytester: pytest.Pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_measuring=MEASURING_TESTS)
    history = tmp_path / "history"
    _run(pytester, history / "20261201-020000", 1_000_000, monkeypatch)
    _run(pytester, history / "20261202-020000", 1_100_000, monkeypatch)
    index = history / "20261202-020000" / "index.html"

    measured = index.with_name("measured.html")
    measured.write_text(index.read_text().replace("</body>", MEASURE + "</body>"))
    dom = _chromium(tmp_path, measured, "--dump-dom")
    bottom = float(re.search(r'data-summary-bottom="([\d.]+)"', dom)[1])
    assert 0 < bottom <= float(re.search(r'data-window-height="(\d+)"', dom)[1]), "the summary is below the fold"

    title = re.search(r"<h1 id=\"title\">([^<]*)</h1>", dom)[1]
    assert title.startswith("hil run 20261202-020000: conv_test_model on nucleo-f439zi")
    summary = re.search(r"<div class=\"hil-summary\">.*?</table></div></div>", dom, re.S)[0]
    text = re.sub(r"<[^>]+>", " ", summary)
    for shown in (
        "PASS",
        "3 passed",
        "1,100,000 instructions",
        "+10.0 %",
        "154.3 KB of 185.0 KB budget",
        "yes, all 2 inputs",
        "31.5 dB worst of 2 (at least 10 dB)",
        "change against 20261201-020000",
    ):
        assert shown in text, f"{shown!r} not in the summary: {text}"
    assert '<span class="worse">+10.0 %</span>' in summary
    assert "No log output captured" not in dom
    assert re.search(
        r"<th>output</th><th>snr_db</th><th>recall</th></tr>.*?<td>detections</td><td></td><td>1</td>", dom
    )

    screenshots = Path(os.environ.get("HIL_SCREENSHOT_DIR", tmp_path))
    _chromium(tmp_path, index, f"--screenshot={screenshots / 'index.png'}")
    assert (screenshots / "index.png").stat().st_size > 10_000


HUNDRED_PICTURES = """
import numpy as np
import pytest
from hil.parity.face_detections import draw_detections
from models.data.synthetic import SyntheticFaceGenerator

GENERATOR = SyntheticFaceGenerator()

@pytest.mark.parametrize("index", range(100))
def test_picture(hil_results, index):
    grey, boxes = GENERATOR.image("test", index)
    noisy = np.clip(grey + np.random.default_rng(index).normal(0, 6, grey.shape), 0, 255).astype(np.uint8)
    detections = (np.asarray(boxes, dtype=float).reshape(-1, 4), np.full(len(boxes), 0.9))
    hil_results.image(f"image {index}", draw_detections(noisy, boxes, detections, detections))
"""


def test_a_hundred_pictures_make_a_report_under_5_mb(pytester: pytest.Pytester, tmp_path):
    """Synthetic faces with sensor-like noise added, drawn by the suite's own drawing function."""
    pytester.makepyfile(test_pictures=HUNDRED_PICTURES)
    out = tmp_path / "out"
    pytester.runpytest_subprocess("--hil-out", str(out), "-p", "no:cacheprovider", "-q").assert_outcomes(passed=100)
    size = (out / "index.html").stat().st_size
    print(f"100-image report: {size / 1e6:.2f} MB")
    assert size < 5_000_000, f"index.html is {size / 1e6:.1f} MB"
    assert (out / "index.html").read_text().count("data:image/jpeg;base64") >= 100


def _write_run(history: Path, name: str, latency: dict[str, float], errors: int) -> None:
    """A run folder written by the run's own recorder: both face models' key figures."""
    from hil.report.results import MetricRow, ResultsRecorder

    recorder = ResultsRecorder(history / name, {"started_utc": name, "board": "mps2-an386", "emulate": "qemu"})
    for model, flash in (("rnnpool_face_m4", 80_028), ("rnnpool_face_qvga", 375_088)):
        test = f"test_cases/test_latency.py::test_latency[{model}]"
        recorder.add(MetricRow(test, "latency_median", latency[model], "instructions", model=model))
        recorder.add(MetricRow(test, "flash_bytes", flash, "B", threshold=450 * 1024, model=model))
        recorder.add(MetricRow(test, "ap50_device", 0.91, better="higher", model=model))
    recorder.finish({"passed": 12 - errors, "failed": 0, "error": errors, "complete": True})


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_trend_page_has_a_panel_per_model_and_key_metric(tmp_path):
    from hil.report.trends import build_trends

    history = tmp_path / "history"
    for index, (m4, errors) in enumerate(((27_000_000, 0), (27_100_000, 0), (29_800_000, 1))):
        _write_run(history, f"2026120{index + 1}-020000", {"rnnpool_face_m4": m4, "rnnpool_face_qvga": 61e6}, errors)
    page, verdict, _ = build_trends(history)
    assert [r.series.split("@")[0] for r in verdict.regressions] == ["rnnpool_face_m4/latency_median"]

    dom = _chromium(tmp_path, page, "--dump-dom")
    assert re.search(r"<h1>hil trends: 3 runs, 20261201-020000 to 20261203-020000</h1>", dom)
    assert "<th>model</th>" in dom and "<th>errors</th>" in dom
    assert dom.count("<td>rnnpool_face_m4, rnnpool_face_qvga</td>") == 3
    assert re.search(r"<tr class=\"regression\"><td>20261203-020000</td>.*?<td>1</td>", dom)
    assert dom.count('<div class="panel">') == 2 * 3  # two models, three key metrics each
    for model in ("rnnpool_face_m4", "rnnpool_face_qvga"):
        assert f"<h2>{model}</h2>" in dom

    screenshots = Path(os.environ.get("HIL_SCREENSHOT_DIR", tmp_path))
    _chromium(tmp_path, page, f"--screenshot={screenshots / 'trends.png'}")
    assert (screenshots / "trends.png").stat().st_size > 10_000
