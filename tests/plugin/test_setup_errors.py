"""Setup mistakes end the run before any test, once, in one line, with pytest's usage exit code (4), also
under pytest-xdist; --collect-only has no side effects."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

DEVICE_TEST = """
def test_needs_the_device(dut):
    assert dut.info.model_name
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--images", "/nonexistent"), "--images /nonexistent: no such folder"),
        (("--board", "nucleo-f999"), "--board nucleo-f999: "),
        (("--model", "no_such_model"), "--model no_such_model: unknown; expected a catalog name"),
        (("--model", "no_such_model", "-n", "2"), "--model no_such_model: unknown; expected a catalog name"),
        # a number its type accepts but the option cannot mean (a budget of 0 read as none given)
        (("--hil-latency-budget", "0"), "--hil-latency-budget 0: expected instructions or cycles above 0"),
        (("--hil-run-timeout", "-1"), "--hil-run-timeout -1.0: expected seconds above 0"),
        (("--hil-min-recall", "1.5"), "--hil-min-recall 1.5: expected a fraction in 0..1"),
        (("--hil-image-count", "0", "-n", "2"), "--hil-image-count 0: expected 1 or more images"),
        (("--hil-images-sample", "0"), "--hil-images-sample 0: expected 1 or more pictures"),
    ],
)
def test_a_setup_mistake_is_one_line_once_with_exit_4(pytester: pytest.Pytester, args, message: str) -> None:
    pytester.makepyfile(test_device=DEVICE_TEST)
    result = pytester.runpytest_subprocess("--emulate", "qemu", "-p", "no:cacheprovider", *args)
    assert result.ret == 4
    output = result.stdout.str() + result.stderr.str()
    assert output.count(message) == 1, output
    assert "Traceback" not in output and "test_needs_the_device" not in result.stdout.str()


def test_a_number_out_of_range_in_the_ini_file(pytester: pytest.Pytester) -> None:
    """The ini file's values, which argparse never sees, get the same check."""
    pytester.makeini("[pytest]\nhil_ram_budget = -5\n")
    pytester.makepyfile(test_device=DEVICE_TEST)
    result = pytester.runpytest_subprocess("--emulate", "qemu", "-p", "no:cacheprovider")
    assert result.ret == 4 and "--hil-ram-budget -5: expected bytes above 0" in result.stderr.str()


def test_an_empty_images_folder(pytester: pytest.Pytester, tmp_path) -> None:
    """Nothing there is a picture: a text file, a Mac's hidden metadata file and a folder named like a picture."""
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "._face.jpg").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "album.png").mkdir()
    pytester.makepyfile(test_device=DEVICE_TEST)
    result = pytester.runpytest_subprocess("--images", str(tmp_path), "-p", "no:cacheprovider")
    assert result.ret == 4 and "no .png/.jpg/.jpeg/.bmp/.pgm images there" in result.stderr.str()


def test_collect_only_builds_nothing_and_writes_no_run_folder(pytester: pytest.Pytester, tmp_path) -> None:
    pytester.makepyfile(test_device=DEVICE_TEST)
    out = tmp_path / "run"
    result = pytester.runpytest_subprocess(
        "--collect-only", "--emulate", "qemu", "--hil-out", str(out), "-p", "no:cacheprovider"
    )
    assert result.ret == 0
    assert "hil: firmware" not in result.stdout.str()
    assert not out.exists()


TWO_DEVICE_TESTS = """
def test_one(dut):
    assert dut.info.model_name

def test_two(dut):
    assert dut.info.model_name
"""


@pytest.mark.parametrize("workers", [(), ("-n", "2")])
def test_no_probe_stops_the_run_once_with_its_own_exit_code(pytester: pytest.Pytester, workers) -> None:
    """No debug probe is attached on these machines: the board target's real probe search finds none."""
    from hil.exit_codes import NO_DEVICE

    pytester.makepyfile(test_device=TWO_DEVICE_TESTS)
    result = pytester.runpytest_subprocess("--board", "nucleo-f439zi", "-p", "no:cacheprovider", *workers)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == NO_DEVICE, output
    assert output.count("no device under test") == 1, output
    assert "Traceback" not in output


def test_a_missing_cross_compiler_is_one_line_with_exit_4(pytester: pytest.Pytester, tmp_path, monkeypatch) -> None:
    """A PATH with QEMU but no arm-none-eabi-gcc, as on a machine where only the emulator was installed."""
    import shutil
    import sys
    from pathlib import Path

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("qemu-system-arm", "git"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bin_dir))
    pytester.makepyfile(test_device=DEVICE_TEST)
    python = Path(sys.executable)
    result = pytester.run(str(python), "-m", "pytest", "--emulate", "qemu", "-p", "no:cacheprovider")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 4, output
    assert output.count("arm-none-eabi-gcc is not installed, so no firmware can be built") == 1
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("truth", "images", "message"),
    [
        ("truth.json", False, "--hil-truth {tmp}/truth.json: truth for --images, which is not given; expected both"),
        ("missing.json", True, "--hil-truth {tmp}/missing.json: no such file or folder; expected a COCO .json"),
        ("readme.txt", True, "--hil-truth {tmp}/readme.txt: not an annotation file; expected a COCO .json"),
        ("pictures", True, "--hil-truth {tmp}/pictures: no annotation files there; expected a COCO .json"),
    ],
    ids=["without --images", "missing", "a text that is not WIDER's", "a folder without annotations"],
)
def test_truth_given_apart_that_holds_none(pytester: pytest.Pytester, tmp_path, truth: str, images: bool, message):
    """--hil-truth names truth kept outside --images (COCO's annotations/, WIDER FACE's wider_face_split/): what
    holds no truth ends the run in one line before any test."""
    import cv2
    import numpy as np

    (tmp_path / "pictures").mkdir()
    cv2.imwrite(str(tmp_path / "pictures" / "a.png"), np.zeros((8, 8), np.uint8))
    (tmp_path / "truth.json").write_text('{"images": []}')
    (tmp_path / "readme.txt").write_text("Attached the mappings between attribute names and label values.\n")
    pytester.makepyfile(test_device=DEVICE_TEST)
    args = ["--images", str(tmp_path / "pictures")] if images else []
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, "--hil-truth", str(tmp_path / truth))
    assert result.ret == 4
    output = result.stdout.str() + result.stderr.str()
    assert output.count(message.format(tmp=tmp_path)) == 1, output
    assert "Traceback" not in output
