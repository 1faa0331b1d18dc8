"""Mistakes a user makes with their own model, through the `hil` command: each ends in one line naming what was
wrong and what was expected, exit code 2, no traceback; with --json, one object {"error": ...}."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from hil.cli import main
from hil.exit_codes import USAGE_ERROR

NETS = """
import torch
from torch import nn
from hil.catalog import ModelSpec


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def spec():
    return ModelSpec(name="small_cli", build=lambda: Small().eval(), input_shape=(1, 1, 8, 8), output_names=("y",))


def bare():
    return Small()


def with_nan():
    model = Small()
    with torch.no_grad():
        model.conv.weight[0, 0, 0, 0] = float("inf")
    return model
"""


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    path = tmp_path / "cli_nets.py"
    path.write_text(NETS)
    return path


def _cases(nets: Path, tmp_path: Path) -> list[tuple[list[str], str]]:
    weights = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(2, 1, 3, 3)}, weights)
    wrong_calibration = tmp_path / "calib.npz"
    np.savez(wrong_calibration, x=np.zeros((4, 3, 8, 8), np.float32))
    wrong_input = tmp_path / "x.npy"
    np.save(wrong_input, np.zeros((1, 2, 8, 8), np.float32))
    out = str(tmp_path / "out")
    return [
        (["compile", "--model", str(weights), "-o", out], "its kind is never guessed from its name"),
        (["compile", "--model", str(nets), "-o", out], "its kind is never guessed from its name"),
        (["build", "--board", "mps2-an386", "--model", str(weights)], "its kind is never guessed from its name"),
        (
            ["compile", "--model", f"{nets}:bare", "--input-shape", "1,3,8,8", "-o", out],
            r"input shape \(1, 3, 8, 8\) does not fit the model .*expected the shape its first layer takes",
        ),
        (["compile", "--model", f"{nets}:bare", "--input-shape", "1,x", "-o", out], "expected positive integers"),
        (
            ["compile", "--model", f"{nets}:with_nan", "--input-shape", "1,1,8,8", "-o", out],
            "weight 'conv.weight' holds NaN or Inf; expected finite numbers",
        ),
        (
            ["compile", "--model", f"{nets}:spec", "--calib", str(wrong_calibration), "-o", out],
            r"calibration data has shape \(4, 3, 8, 8\), expected \(N, 1, 8, 8\)",
        ),
        (
            ["run", "--emulate", "qemu", "--model", f"{nets}:spec", "--input", str(wrong_input)],
            r"--input .*x.npy: shape \(1, 2, 8, 8\), expected \(1, 1, 8, 8\)",
        ),
    ]


CASE_IDS = [
    "checkpoint-alone",
    "python-file-alone",
    "build-checkpoint-alone",
    "wrong-input-shape",
    "unreadable-input-shape",
    "inf-weight",
    "calibration-wrong-shape",
    "run-input-wrong-shape",
]


@pytest.mark.parametrize("case", range(len(CASE_IDS)), ids=CASE_IDS)
def test_error_is_one_line_and_exit_2(nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture, case: int) -> None:
    argv, message = _cases(nets, tmp_path)[case]
    assert main(argv) == USAGE_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith(f"hil {argv[0]}: error: ") and re.search(message, lines[0]), lines[0]

    assert main([*argv, "--json"]) == USAGE_ERROR
    captured = capsys.readouterr()
    assert captured.err == "" and len(captured.out.strip().splitlines()) == 1, captured
    assert re.search(message, json.loads(captured.out)["error"])
