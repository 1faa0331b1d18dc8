"""Anomaly detection: MLPerf Tiny's fully connected autoencoder on 640 features (5 frames x 128 log-mel bins).

Linear 128 (x4) -> Linear 8 -> Linear 128 (x4), each followed by BatchNorm and ReLU -> Linear 640 (the
reconstruction; the anomaly score is its error). Weights: random (seed 40), BatchNorm statistics from the
generated frames (examples/_weights.py).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from examples import _synthetic
from examples._weights import initialise
from hil.catalog import Budgets, ModelSpec

FEATURES = 640
INPUT_SHAPE = (1, FEATURES)


def _dense(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Linear(cin, cout), nn.BatchNorm1d(cout), nn.ReLU()]


class AutoEncoder(nn.Module):
    def __init__(self, hidden: int = 128, bottleneck: int = 8) -> None:
        super().__init__()
        widths = [FEATURES, hidden, hidden, hidden, hidden, bottleneck, hidden, hidden, hidden, hidden]
        layers = [layer for cin, cout in itertools.pairwise(widths) for layer in _dense(cin, cout)]
        self.layers = nn.Sequential(*layers, nn.Linear(hidden, FEATURES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def calibration(count: int) -> np.ndarray:
    return _synthetic.log_mel_frames(count, seed=4000)


def model() -> nn.Module:
    return initialise(AutoEncoder(), 40, lambda n: _synthetic.log_mel_frames(n, seed=7))


def build() -> ModelSpec:
    return ModelSpec(
        name="autoencoder",
        build=model,
        input_shape=INPUT_SHAPE,
        output_names=("reconstruction",),
        task="tensor",
        calibration=calibration,
        budgets=Budgets(flash_bytes=384 * 1024, ram_bytes=32 * 1024),
        description="MLPerf Tiny anomaly detection FC autoencoder, 640 features, random weights (seed 40)",
    )
