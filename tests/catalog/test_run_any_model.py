"""`hil run` on any model: a user's classifier from a file runs on QEMU and equals its golden model bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hil.cli import main

CLASSIFIER = """
import numpy as np
import torch
from torch import nn
from hil.catalog import ModelSpec


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Conv2d(8, 4, 8)

    def forward(self, x):
        return self.head(self.relu(self.conv(x)))


def spec():
    return ModelSpec(
        name="user_classifier",
        build=lambda: Classifier().eval(),
        input_shape=(1, 3, 16, 16),
        output_names=("logits",),
        task="classification",
        labels=("cat", "dog", "bird", "fish"),
        calibration=lambda n: np.random.default_rng(2).standard_normal((n, 3, 16, 16)).astype(np.float32),
    )
"""


@pytest.fixture
def classifier(tmp_path: Path) -> Path:
    path = tmp_path / "classifier.py"
    path.write_text(CLASSIFIER)
    return path


def test_run_a_user_classifier_on_qemu(classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(9).standard_normal((3, 16, 16)).astype(np.float32))
    code = main(["run", "--model", f"{classifier}:spec", "--emulate", "qemu", "--input", str(x), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["matches_reference"], result
    assert result["model"] == "user_classifier" and result["task"] == "classification"
    top = result["meaning"]["top_k"]
    assert [row["label"] for row in top] and {row["label"] for row in top} <= {"cat", "dog", "bird", "fish"}
    assert top[0]["score"] >= top[-1]["score"]
    assert result["timing"] and result["footprint"]["flash_bytes"] > 0


def test_run_input_of_the_wrong_shape(classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 8, 8), np.float32))
    code = main(["run", "--model", f"{classifier}:spec", "--emulate", "qemu", "--input", str(x), "--json"])
    out = capsys.readouterr().out.strip()
    assert code == 2 and json.loads(out)["error"].endswith("shape (3, 8, 8), expected (1, 3, 16, 16)")
