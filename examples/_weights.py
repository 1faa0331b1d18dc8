"""Seeded random weights for the examples: He-normal convolution and Linear weights, small biases, recurrent layers
uniform in +-1/sqrt(hidden) as PyTorch initialises them, and BatchNorm running statistics measured on generated
inputs, with each BatchNorm's scale set to its channel's measured spread:
every channel is centred on the data the model sees and keeps its He-initialised scale, so value ranges neither
explode nor vanish with depth and small errors are not amplified from layer to layer (as in a trained network)."""

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
            if isinstance(m, (nn.GRU, nn.LSTM)):  # PyTorch's own scheme, from the seed
                bound = m.hidden_size**-0.5
                for p in m.parameters():
                    p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)
            elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
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
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                # gamma ~ the channel's own spread: BatchNorm centres the channel but keeps its He-initialised
                # scale. Dividing by the spread (gamma ~ 1) would blow up the channels whose random weights nearly
                # cancel, and their rounding noise with them: a chaotic network no training would produce.
                m.weight.mul_(torch.sqrt(m.running_var + m.eps))
    return model.eval()
