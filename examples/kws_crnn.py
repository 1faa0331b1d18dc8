"""Keyword spotting with a recurrent layer: a CRNN after "Hello Edge" (Zhang et al., 2017) on 49 x 10 MFCCs, 12
classes.

The input is [B, frames, coefficients], as a feature extractor hands it over. Conv1d over the frames (10 -> 48, kernel
5, stride 2) with BatchNorm and ReLU -> a two-layer GRU of 60 units over the 25 frames it leaves -> the last frame ->
Linear 84, ReLU -> Linear 12 -> softmax. Weights: random (seed 11; the GRU's uniform in +-1/sqrt(60) as PyTorch
initialises it), BatchNorm statistics from the generated MFCCs (examples/_weights.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from examples import _synthetic
from examples._weights import initialise
from hil.catalog import Budgets, ModelSpec

INPUT_SHAPE = (1, 49, 10)
LABELS = ("silence", "unknown", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


class CRNN(nn.Module):
    def __init__(self, filters: int = 48, hidden: int = 60, classes: int = len(LABELS)) -> None:
        super().__init__()
        self.conv = nn.Conv1d(INPUT_SHAPE[2], filters, 5, stride=2, padding=2, bias=False)
        self.bn = nn.BatchNorm1d(filters)
        self.gru = nn.GRU(filters, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, 84)
        self.classifier = nn.Linear(84, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = F.relu(self.bn(self.conv(x.transpose(1, 2)))).transpose(1, 2)
        out, _ = self.gru(frames)
        return F.softmax(self.classifier(F.relu(self.fc(out[:, -1]))), dim=1)


def _mfcc_frames(count: int, seed: int) -> np.ndarray:
    return np.ascontiguousarray(_synthetic.mfcc(count, seed=seed)[:, 0])


def calibration(count: int) -> np.ndarray:
    return _mfcc_frames(count, seed=1000)


def model() -> nn.Module:
    return initialise(CRNN(), 11, lambda n: _mfcc_frames(n, seed=7))


def build() -> ModelSpec:
    return ModelSpec(
        name="kws_crnn",
        build=model,
        input_shape=INPUT_SHAPE,
        output_names=("probabilities",),
        task="classification",
        calibration=calibration,
        labels=LABELS,
        budgets=Budgets(flash_bytes=192 * 1024, ram_bytes=48 * 1024),
        description="keyword spotting CRNN (Conv1d, 2 GRU layers of 60), 49x10 MFCC frames, random weights (seed 11)",
    )
