"""Seeded random weights for the examples: He-normal convolution and Linear weights, small biases, and BatchNorm
running statistics measured on generated inputs, so every layer sees the value ranges a trained network's would
(unit-variance pre-activations) rather than ranges that explode or vanish with depth."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

STATISTICS_SAMPLES = 32


def initialise(model: nn.Module, seed: int, inputs: Callable[[int], np.ndarray]) -> nn.Module:
    """model with seeded weights and BatchNorm statistics from inputs(STATISTICS_SAMPLES), in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                std = (2.0 / m.weight[0].numel()) ** 0.5
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * std)
                if m.bias is not None:
                    m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=generator))
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.copy_(0.75 + 0.5 * torch.rand(m.num_features, generator=generator))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=generator))
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the statistics batch
        model.train()
        model(torch.from_numpy(inputs(STATISTICS_SAMPLES)))
    return model.eval()
