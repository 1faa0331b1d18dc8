"""Convolutional building blocks of the face models, with EdgeML's (MobileNetV2's) module layout."""

from __future__ import annotations

import torch
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> ReLU6, 'same' padding; keys ``0.weight``, ``1.*`` as in EdgeML."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, groups: int = 1) -> None:
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 MBConv: 1x1 expand (ReLU6), 3x3 depthwise (ReLU6), 1x1 linear project, residual if shapes match."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual stride must be 1 or 2, got {stride}")
        hidden_dim = round(inp * expand_ratio)
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden_dim, kernel_size=1))
        layers += [
            ConvBNReLU(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def build_mbconv_blocks(input_channels: int, settings: list[tuple[int, int, int, int]]) -> list[InvertedResidual]:
    """MBConv blocks from (expansion t, channels c, repeats n, stride s) rows; s applies to a row's first block."""
    blocks: list[InvertedResidual] = []
    channels = input_channels
    for t, c, n, s in settings:
        for i in range(n):
            blocks.append(InvertedResidual(channels, c, s if i == 0 else 1, expand_ratio=t))
            channels = c
    return blocks


class L2Norm(nn.Module):
    """Channel-wise L2 normalisation with a learned per-channel scale (``weight``, initialised to ``scale``)."""

    def __init__(self, n_channels: int, scale: float) -> None:
        super().__init__()
        self.n_channels = n_channels
        self.gamma = scale
        self.eps = 1e-10
        self.weight = nn.Parameter(torch.full((n_channels,), float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x / ||x||_channels * weight."""
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return self.weight.view(1, -1, 1, 1) * (x / norm)
