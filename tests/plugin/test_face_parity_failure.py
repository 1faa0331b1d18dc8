"""A firmware whose weights differ from what the compiler computed (one weight changed in the generated
C while the model hash stays the same, as a code-generation bug would leave it): the face suite fails
that image naming the metric, the value, the threshold and the first diverging layer."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def test_perturbed_weights_fail_with_the_first_diverging_layer(pytester: pytest.Pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    result = pytester.runpytest_subprocess(
        str(REPO / "test_cases"),
        *("-p", "tests.support.perturb_weights_plugin", "--emulate", "qemu", "--model", "rnnpool_face_m4"),
        *("--hil-transport", "semihosting", "--hil-image-count", "1", "-k", "device_matches"),
        *("-p", "no:cacheprovider", "--hil-out", str(tmp_path / "out")),
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*input0: bit_exact: the device differs from the integer reference in loc * values*"
            "threshold 0; first diverging layer: #*: * values differ, first at *"
        ]
    )
