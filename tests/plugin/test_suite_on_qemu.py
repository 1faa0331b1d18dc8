"""The user-facing suite (test_cases/) through pytest itself: budgets that fail with their numbers,
a missing emulator reported in one line, and the HTML report as a browser shows it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hil.build.firmware_builder import fastest_transport

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "test_cases"


def _suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(str(SUITE), "--emulate", "qemu", "-p", "no:cacheprovider", *args)


def test_a_too_small_ram_budget_fails_with_the_numbers(pytester, tmp_path):
    result = _suite(pytester, "-k", "memory", "--hil-ram-budget", "100000", "--hil-out", str(tmp_path / "out"))
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines([r".*RAM [\d,]+ B .* over the budget of 100,000 B; biggest: arena 153,600 B.*"])
    assert "Traceback" not in result.stdout.str()


def test_auto_transport_runs_the_fastest_on_qemu_and_says_which(pytester, tmp_path):
    out = tmp_path / "out"
    result = _suite(pytester, "--hil-transport", "auto", "--hil-image-count", "2", "--hil-out", str(out))
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 3 and not outcomes.get("failed") and not outcomes.get("error"), outcomes
    result.stdout.fnmatch_lines(["hil: board * on emulator qemu, model *, semihosting (--hil-transport auto: *)"])
    metadata = json.loads((out / "results.json").read_text())["metadata"]
    assert metadata["transport"] == "semihosting" and metadata["transport_chosen_by"] == "--hil-transport auto"


def test_auto_means_semihosting_on_qemu_and_uart_elsewhere():
    assert [fastest_transport(e) for e in ("qemu", "renode", None)] == ["semihosting", "uart", "uart"]


def test_a_missing_emulator_is_one_clear_error_line(pytester, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("arm-none-eabi-gcc", "git"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bin_dir))  # the toolchain, but no qemu-system-arm
    result = pytester.run(
        str(REPO / ".venv" / "bin" / "python"),
        "-m",
        "pytest",
        str(SUITE),
        "--emulate",
        "qemu",
        "-p",
        "no:cacheprovider",
        "-k",
        "exact_host_computation and 0",
    )
    output = result.stdout.str() + result.stderr.str()
    assert output.count("--emulate qemu: qemu-system-arm is not installed (apt-get install qemu-system-arm)") == 1
    assert "Traceback" not in output
    assert result.ret == 4  # found before any test, so no test errors


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_html_report_shows_images_and_tables_in_a_browser(pytester, tmp_path):
    out = tmp_path / "out"
    result = _suite(pytester, "-k", "memory or latency", "--hil-out", str(out))
    result.assert_outcomes(passed=2)
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (out / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    images = re.findall(r'<img[^>]+src="data:image/png;base64,', dom)
    assert len(images) >= 2, "expected the budget bars and the latency histogram as inline PNGs"
    assert "hil-table" in dom and "biggest symbols" in dom
    assert "firmware_build_id" in dom


def test_the_face_model_over_uart_leaves_the_stack_margin(pytester, tmp_path):
    """The deepest stack is the M4 face model's inference over UART (the framed link's frames are on it too): the
    suite's stack test must pass there, not only over the semihosting that auto picks on QEMU."""
    result = _suite(
        pytester,
        "-k",
        "stack_reservation",
        "--hil-transport",
        "uart",
        "--model",
        "rnnpool_face_m4",
        "--hil-image-count",
        "1",
        "--hil-out",
        str(tmp_path / "out"),
    )
    result.assert_outcomes(passed=1)
