"""The face suite judges a face detector where its boxes are read (its output measure 'faces'): the parity test
records loc at the float model's face anchors against the SNR threshold, and the face probability's SNR beside
it without one; a model measured over its whole outputs gets neither. Each input's saturating tensors are recorded,
and a figure under its threshold says whether one saturated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def _parity_run(pytester: pytest.Pytester, out: Path, model: str, *extra: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        str(REPO / "test_cases"),
        *("--emulate", "qemu", "--model", model, "--hil-transport", "semihosting", "--hil-image-count", "1"),
        *("-k", "device_matches", "-p", "no:cacheprovider", "--hil-out", str(out), *extra),
    )


def _metrics(out: Path) -> dict[str, dict]:
    return {row["metric"]: row for row in json.loads((out / "results.json").read_text())["rows"]}


def test_loc_at_the_faces_is_held_to_the_snr_threshold(pytester: pytest.Pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    _parity_run(pytester, tmp_path / "first", "rnnpool_face_m4").assert_outcomes(passed=1)
    metrics = _metrics(tmp_path / "first")
    at_faces, probability = metrics["loc_at_faces_snr_db"], metrics["face_probability_snr"]
    assert at_faces["threshold"] == 10.0 and at_faces["passed"] is True and at_faces["unit"] == "dB"
    assert at_faces["value"] != pytest.approx(metrics["loc_snr_db"]["value"], abs=0.01), "a measure of its own"
    assert probability["threshold"] is None and probability["passed"] is None
    saturated = metrics["saturated_values_percent"]
    assert saturated["unit"] == "%" and saturated["threshold"] is None and saturated["value"] >= 0
    report = (tmp_path / "first" / "index.html").read_text()
    assert ("input0: tensors at the ends of their range" in report) == (saturated["value"] > 0)
    assert saturated["value"] == 0 or f"&lt;td&gt;{saturated['value']:.2f}&lt;/td&gt;" in report, "its percent column"

    limit = f"{at_faces['value'] + 0.01:.2f}"
    result = _parity_run(pytester, tmp_path / "second", "rnnpool_face_m4", "--hil-min-snr-db", limit)
    result.assert_outcomes(failed=1)
    diagnosis = (
        "*input0: on this input * at the ends of its range*" if saturated["value"] > 0 else "*no tensor saturates*"
    )
    result.stdout.fnmatch_lines(
        [f"*input0: loc_at_faces_snr_db {at_faces['value']:.2f} dB below the threshold {limit}*", diagnosis]
    )


def test_a_model_measured_over_its_outputs_gets_no_face_figures(pytester: pytest.Pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    _parity_run(pytester, tmp_path / "out", str(REPO / "examples/autoencoder.py:build")).assert_outcomes(passed=1)
    names = set(_metrics(tmp_path / "out"))
    assert any(n.endswith("_snr_db") for n in names)
    assert not {"loc_at_faces_snr_db", "face_probability_snr"} & names


def test_a_missed_face_names_what_saturated_on_its_picture(pytester: pytest.Pytester, tmp_path, monkeypatch):
    """The QVGA reads one of test image 35's four faces at 0.442 where float reads 0.554, below the default margin's
    0.45 (python -m hil.compiler.bench_accuracy --model qvga --images 100, 2026-12-06). mob.2's residual sum, which
    the exponent search moved one finer, saturates 0.56 % of its values there; at its calibrated exponent the face
    reads 0.502 (2026-12-07). If a compiler change lets the QVGA find that face, pick another image it misses."""
    import cv2

    from models.data.synthetic import SyntheticFaceGenerator

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "test35.png"), SyntheticFaceGenerator().image("test", 35)[0])
    result = pytester.runpytest_subprocess(
        str(REPO / "test_cases"),
        *("--emulate", "qemu", "--model", "rnnpool_face_qvga", "--hil-transport", "semihosting"),
        *("--images", str(images), "-k", "detections_match", "-p", "no:cacheprovider", "--hil-out", str(tmp_path)),
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test35.png: recall_vs_float 0.750 below the threshold 0.9 (3 of 4 float detections *",
            "*test35.png: on this input * at the ends of its range*",
        ]
    )
    assert _metrics(tmp_path)["recall_vs_float"]["passed"] is False
