"""Checkpoints a user hands in: each broken one ends in one line naming what was wrong and what was expected."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

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
    return ModelSpec(name="small", build=lambda: Small().eval(), input_shape=(1, 1, 8, 8), output_names=("y",))
"""


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    path = tmp_path / "small_nets.py"
    path.write_text(NETS)
    return path


def _checkpoint(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


def _good_state() -> dict:
    conv = torch.nn.Conv2d(1, 2, 3, padding=1)
    return {"conv.weight": conv.weight.detach().clone(), "conv.bias": conv.bias.detach().clone()}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: b"", "the file is empty"),
        (lambda: os.urandom(512), "not a readable PyTorch checkpoint"),
        (lambda: "truncated", "not a readable PyTorch checkpoint"),
        (lambda: {"conv.weight": _good_state()["conv.weight"]}, r"missing keys \(1\): conv.bias"),
        (lambda: {**_good_state(), "extra.bias": torch.zeros(2)}, r"unexpected keys \(1\): extra.bias"),
        (lambda: {**_good_state(), "conv.bias": torch.zeros(3)}, r"shape mismatches \(1\): conv.bias \(3,\) != \(2,\)"),
        (lambda: {**_good_state(), "conv.bias": torch.tensor([float("nan"), 0.0])}, "holds NaN or Inf"),
        (lambda: [1, 2, 3], "expected a state_dict mapping"),
    ],
)
def test_broken_checkpoints(nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture, make, message: str) -> None:
    content = make()
    if content == "truncated":
        whole = _checkpoint(tmp_path, "whole.pt", _good_state()).read_bytes()
        content = whole[: len(whole) // 2]
    path = _checkpoint(tmp_path, "weights.pt", content)
    code = main(["compile", "--model", f"{nets}:spec", "--checkpoint", str(path), "-o", str(tmp_path / "c"), "--json"])
    out = capsys.readouterr().out.strip()
    assert code == USAGE_ERROR and len(out.splitlines()) == 1, out
    error = json.loads(out)["error"]
    assert "\n" not in error
    assert re.search(message, error), error


def test_a_good_checkpoint_compiles(nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _checkpoint(tmp_path, "weights.pt", _good_state())
    assert main(["compile", "--model", f"{nets}:spec", "--checkpoint", str(path), "-o", str(tmp_path / "c")]) == 0
    assert "small ->" in capsys.readouterr().out
