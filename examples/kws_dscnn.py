"""Keyword spotting: MLPerf Tiny's DS-CNN (small) on 49 x 10 MFCCs, 12 classes.

Conv 10x4 stride 2 (TensorFlow SAME: zero padding 4 above, 5 below, 1 left and right) -> 4 x (depthwise 3x3 ->
pointwise 64), each followed by BatchNorm and ReLU -> dropout -> average pool over the 25 x 5 map -> Linear 12 ->
softmax. Weights: random (seed 10), BatchNorm statistics from the generated MFCCs (examples/_weights.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from examples import _synthetic
from examples._weights import initialise
from hil.catalog import Budgets, ModelSpec

INPUT_SHAPE = (1, 1, 49, 10)
LABELS = ("silence", "unknown", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


def _conv_bn_relu(cin: int, cout: int, kernel: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class DSCNN(nn.Module):
    def __init__(self, filters: int = 64, blocks: int = 4, classes: int = len(LABELS)) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, filters, (10, 4), stride=2, bias=False)
        self.stem_bn = nn.BatchNorm2d(filters)
        self.blocks = nn.Sequential(
            *(
                nn.Sequential(_conv_bn_relu(filters, filters, 3, groups=filters), _conv_bn_relu(filters, filters, 1))
                for _ in range(blocks)
            )
        )
        self.dropout = nn.Dropout(0.4)
        self.pool = nn.AvgPool2d((25, 5))  # the whole 25 x 5 map the strided stem leaves of 49 x 10
        self.classifier = nn.Linear(filters, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_bn(self.stem(F.pad(x, (1, 1, 4, 5)))))  # SAME for the strided 10x4 kernel
        x = self.dropout(self.blocks(x))
        x = torch.flatten(self.pool(x), 1)
        return F.softmax(self.classifier(x), dim=1)


def calibration(count: int) -> np.ndarray:
    return _synthetic.mfcc(count, seed=1000)


def model() -> nn.Module:
    return initialise(DSCNN(), 10, lambda n: _synthetic.mfcc(n, seed=7))


def build() -> ModelSpec:
    return ModelSpec(
        name="kws_dscnn",
        build=model,
        input_shape=INPUT_SHAPE,
        output_names=("probabilities",),
        task="classification",
        calibration=calibration,
        labels=LABELS,
        budgets=Budgets(flash_bytes=64 * 1024, ram_bytes=48 * 1024),
        description="MLPerf Tiny keyword spotting DS-CNN (small), 49x10 MFCCs, random weights (seed 10)",
    )
