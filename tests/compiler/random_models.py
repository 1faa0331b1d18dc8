"""Small random models built from the face models' own blocks (conv, depthwise, pointwise, MBConv with and without
residual, RNNPool), with random shapes, strides and BatchNorm statistics, for the compiler's generality tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from models.blocks import ConvBNReLU, InvertedResidual
from models.rnnpool import RNNPoolLayer


class RandomModel(nn.Module):
    """stem -> [RNNPool] -> blocks -> two 3x3 heads, flattened to rows and joined (as the face models' heads)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.in_channels = int(rng.choice([1, 3]))
        self.height, self.width = (int(v) for v in rng.integers(18, 34, size=2))
        channels = int(rng.integers(3, 9))
        layers: list[nn.Module] = [ConvBNReLU(self.in_channels, channels, stride=int(rng.integers(1, 3)))]
        if rng.random() < 0.6:
            hidden2 = int(rng.integers(2, 5))
            patch = int(rng.integers(2, 5))
            layers.append(
                RNNPoolLayer(
                    patch, patch, int(rng.integers(3, 9)), hidden2, channels, stride=int(rng.integers(1, patch + 1))
                )
            )
            channels = 4 * hidden2
        for _ in range(int(rng.integers(2, 5))):
            kind = rng.choice(["mbconv", "residual", "depthwise", "pointwise"])
            if kind == "residual":
                layers.append(InvertedResidual(channels, channels, 1, int(rng.integers(1, 4))))
            elif kind == "mbconv":
                out = int(rng.integers(4, 17))
                layers.append(InvertedResidual(channels, out, int(rng.integers(1, 3)), int(rng.integers(2, 4))))
                channels = out
            elif kind == "depthwise":
                layers.append(ConvBNReLU(channels, channels, stride=int(rng.integers(1, 3)), groups=channels))
            else:
                out = int(rng.integers(4, 17))
                layers.append(ConvBNReLU(channels, out, kernel_size=1))
                channels = out
        self.body = nn.ModuleList(layers)
        self.head_a = nn.Conv2d(channels, 4, 3, padding=1)
        self.head_b = nn.Conv2d(channels, 4, 3, stride=2, padding=1)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    n = module.num_features
                    module.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                    module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                    module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                    module.bias.copy_(0.2 * torch.randn(n, generator=generator))
        self.eval()

    def example(self, seed: int = 0) -> torch.Tensor:
        """A random input, values in [-1, 1)."""
        generator = torch.Generator().manual_seed(seed)
        return 2 * torch.rand(1, self.in_channels, self.height, self.width, generator=generator) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.body:
            x = layer(x)
        heads = [self.head_a(x), self.head_b(x)]
        return torch.cat([h.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4) for h in heads], dim=1)
