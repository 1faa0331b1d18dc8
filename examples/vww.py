"""Visual wake words: MLPerf Tiny's MobileNetV1 (width 0.25) at 96 x 96 x 3, person / no person.

Conv 3x3 stride 2 (8) -> 13 depthwise-separable blocks (depthwise 3x3, pointwise 1x1, each with BatchNorm and
ReLU; strides 2 where the width doubles) -> global average pool -> Linear 2 -> softmax. Weights: random (seed 20),
BatchNorm statistics from the generated pictures (examples/_weights.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from examples import _synthetic
from examples._weights import initialise
from hil.catalog import Budgets, ModelSpec

INPUT_SHAPE = (1, 3, 96, 96)
# (output channels, stride) of the depthwise-separable blocks of MobileNetV1 at width 1.0
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *((512, 1),) * 5, (1024, 2), (1024, 1))


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(cout), nn.ReLU()]


class MobileNetV1(nn.Module):
    def __init__(self, width: float = 0.25, classes: int = 2) -> None:
        super().__init__()
        channels = int(32 * width)
        layers = _conv_bn_relu(3, channels, 3, stride=2)
        for out, stride in BLOCKS:
            out = int(out * width)
            layers += _conv_bn_relu(channels, channels, 3, stride, groups=channels)
            layers += _conv_bn_relu(channels, out, 1)
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return F.softmax(self.classifier(torch.flatten(x, 1)), dim=1)


def calibration(count: int) -> np.ndarray:
    return _synthetic.images(count, 96, 96, seed=2000)


def model() -> nn.Module:
    return initialise(MobileNetV1(), 20, lambda n: _synthetic.images(n, 96, 96, seed=7))


def build() -> ModelSpec:
    return ModelSpec(
        name="vww",
        build=model,
        input_shape=INPUT_SHAPE,
        output_names=("probabilities",),
        task="classification",
        calibration=calibration,
        resize="letterbox",
        labels=("no person", "person"),
        budgets=Budgets(flash_bytes=320 * 1024, ram_bytes=96 * 1024),
        description="MLPerf Tiny visual wake words MobileNetV1 0.25, 96x96x3, random weights (seed 20)",
    )
