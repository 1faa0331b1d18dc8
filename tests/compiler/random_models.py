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


class RandomLayerModel(nn.Module):
    """Random stacks of the general layers (issue 10, point 6): convolutions with random groups, dilation, SAME or
    asymmetric zero padding, pools, table activations, residual adds with an activation, standalone BatchNorm,
    then global pooling or a flatten into Linear layers and an optional softmax; random shapes and input size."""

    ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, lambda: nn.LeakyReLU(0.1))

    def __init__(self, seed: int) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.shape = (1, int(rng.choice([1, 3])), int(rng.integers(12, 25)), int(rng.integers(12, 25)))
        channels = int(rng.integers(2, 5)) * 2
        self.stem = nn.Conv2d(self.shape[1], channels, 3, padding="same")
        self.blocks = nn.ModuleList()
        self.kinds: list[str] = []
        for _ in range(int(rng.integers(3, 6))):
            kind = str(rng.choice(["grouped", "dilated", "pool", "residual", "bn", "pad"]))
            act = self.ACTIVATIONS[int(rng.integers(len(self.ACTIVATIONS)))]()
            if kind == "grouped":
                groups = int(rng.choice([2, channels]))
                out = channels * int(rng.integers(1, 3))
                block = nn.Sequential(nn.Conv2d(channels, out, 3, padding=1, groups=groups), act)
                channels = out
            elif kind == "dilated":
                block = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=2, dilation=2), act)
            elif kind == "pool":
                block = nn.MaxPool2d(2, ceil_mode=bool(rng.integers(2))) if rng.random() < 0.5 else nn.AvgPool2d(2)
            elif kind == "residual":
                block = nn.Conv2d(channels, channels, 1)
                self.add_module(f"residual_act{len(self.blocks)}", act)
            elif kind == "bn":
                block = nn.Sequential(nn.BatchNorm2d(channels), act)
            else:
                pads = tuple(int(v) for v in rng.integers(0, 2, 4))
                block = nn.Sequential(nn.ZeroPad2d(pads), nn.Conv2d(channels, channels, 3, stride=2), act)
            self.blocks.append(block)
            self.kinds.append(kind)
        self.global_pool = bool(rng.integers(2))
        self.softmax = bool(rng.integers(2))
        self.channels = channels
        self.head: nn.Module | None = None
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            features = self._features(torch.zeros(self.shape)).shape[1]
            self.head = nn.Sequential(nn.Linear(features, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 5))
            for module in self.modules():
                if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    n = module.num_features
                    module.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                    module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                    module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                    module.bias.copy_(0.2 * torch.randn(n, generator=generator))
        self.eval()

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i, (kind, block) in enumerate(zip(self.kinds, self.blocks, strict=True)):
            x = getattr(self, f"residual_act{i}")(x + block(x)) if kind == "residual" else block(x)
        return x.mean((2, 3)) if self.global_pool else torch.flatten(x, 1)

    def example(self, seed: int = 0) -> torch.Tensor:
        """A smooth random input in [-1, 1)."""
        generator = torch.Generator().manual_seed(seed)
        noise = 2 * torch.rand(self.shape, generator=generator) - 1
        return torch.nn.functional.avg_pool2d(noise, 3, 1, 1) * 1.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self._features(x))
        return out.softmax(dim=1) if self.softmax else out
