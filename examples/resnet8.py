"""Image classification: MLPerf Tiny's ResNet-8 at 32 x 32 x 3 (CIFAR-10), 10 classes.

Conv 3x3 (16) -> three residual stages of two 3x3 convolutions (16, 32 stride 2, 64 stride 2; a 1x1 strided
shortcut where the shape changes), ReLU after each add -> average pool 8x8 -> Linear 10 -> softmax. Weights:
random (seed 30), BatchNorm statistics from the generated pictures (examples/_weights.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from examples import _synthetic
from examples._weights import initialise
from hil.catalog import Budgets, ModelSpec

INPUT_SHAPE = (1, 3, 32, 32)
LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class ResidualStage(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride) if (cin, stride) != (cout, 1) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + self.shortcut(x))


class ResNet8(nn.Module):
    def __init__(self, classes: int = len(LABELS)) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(16)
        self.stages = nn.Sequential(ResidualStage(16, 16, 1), ResidualStage(16, 32, 2), ResidualStage(32, 64, 2))
        self.classifier = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(F.relu(self.stem_bn(self.stem(x))))
        x = nn.functional.avg_pool2d(x, 8)
        return F.softmax(self.classifier(x.flatten(1)), dim=1)


def calibration(count: int) -> np.ndarray:
    return _synthetic.images(count, 32, 32, seed=3000)


def model() -> nn.Module:
    return initialise(ResNet8(), 30, lambda n: _synthetic.images(n, 32, 32, seed=7))


def build() -> ModelSpec:
    return ModelSpec(
        name="resnet8",
        build=model,
        input_shape=INPUT_SHAPE,
        output_names=("probabilities",),
        task="classification",
        calibration=calibration,
        labels=LABELS,
        budgets=Budgets(flash_bytes=128 * 1024, ram_bytes=96 * 1024),
        description="MLPerf Tiny image classification ResNet-8, 32x32x3, random weights (seed 30)",
    )
