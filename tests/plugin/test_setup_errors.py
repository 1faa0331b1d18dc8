"""Setup errors the controller finds before any test runs: each is one line, printed once, with
pytest's usage exit code (4), also under xdist; never a traceback, never once per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = "def test_one():\n    pass\n\ndef test_two():\n    pass\n"


def _path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only these tools (the rest of the machine's tools are missing)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)


def _images(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    if kind == "unreadable":
        (folder / "a.png").write_bytes(b"not a picture")
    return folder


CASES = {
    "missing images folder": (lambda t: ["--images", str(t / "nowhere")], "no such folder"),
    "empty images folder": (lambda t: ["--images", str(_images(t, "empty"))], "no .png/.jpg/.jpeg/.bmp images"),
    "unreadable image": (lambda t: ["--images", str(_images(t, "unreadable"))], "a.png is not a readable image"),
    "unknown board": (lambda t: ["--board", "no-such-board"], "--board no-such-board: unknown board; expected"),
    "unknown model": (lambda t: ["--model", "no_such_model"], "--model no_such_model:"),
}


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_setup_error_is_one_line_once_with_exit_4(pytester: pytest.Pytester, tmp_path, case, xdist):
    if xdist and case not in ("unknown board", "missing images folder"):
        pytest.skip("under xdist: two cases suffice, the check runs on the controller for every case")
    pytester.makepyfile(test_two=TESTS)
    args, expected = CASES[case]
    result = pytester.runpytest_subprocess(*args(tmp_path), "-p", "no:cacheprovider", *(["-n", "2"] if xdist else []))
    _assert_one_usage_line(result, expected)


def _assert_one_usage_line(result: pytest.RunResult, expected: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and expected in lines[0], output
    assert output.count(expected) == 1 and "Traceback" not in output


def test_a_missing_emulator(pytester: pytest.Pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_two=TESTS)
    monkeypatch.setenv("PATH", _path_with(tmp_path, "arm-none-eabi-gcc", "git"))
    result = pytester.runpytest_subprocess("--emulate", "qemu", "-p", "no:cacheprovider")
    _assert_one_usage_line(result, "--emulate qemu: qemu-system-arm is not on PATH; install it with: apt-get")


def test_a_missing_toolchain(pytester: pytest.Pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_two=TESTS)
    monkeypatch.setenv("PATH", _path_with(tmp_path, "qemu-system-arm", "git"))
    result = pytester.runpytest_subprocess("--emulate", "qemu", "-p", "no:cacheprovider")
    _assert_one_usage_line(result, "arm-none-eabi-gcc is not on PATH; install it with:")
