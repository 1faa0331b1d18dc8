"""The general layers (issue 10, point 6), one small model per operator: a 3x3 stem convolution, then the operator
(as a module and as a function where PyTorch has both). Compiles each, checks host C == golden bit for bit and
prints the SNR of the int8 output against float on realistic inputs (smooth image-like maps, not i.i.d. noise):
of the whole model, and of the operator alone (float run from the stem's own int8 output).

    .venv/bin/python -m hil.compiler.bench_layers [--bit-widths search] [--exponents search]

Calibration is 32 inputs (8 more are held out): with fewer, the exponent search fits the calibration set's own
extremes and loses on held-out inputs.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hil.compiler.ir import to_graph_layout

INPUT_SHAPE = (1, 3, 16, 16)
CHANNELS = 8
CALIBRATION_INPUTS = 32
HELD_OUT_INPUTS = 4


class Fn(nn.Module):
    """A function of the stem's output as a module (the functional forms)."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


class AfterAdd(nn.Module):
    """A residual: the stem's map plus a 3x3 convolution of it, then an activation (relu and relu6 fuse into
    add_s8, others run as tables)."""

    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.conv, self.activation = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1), activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x + self.conv(x))


class InPlaceResidual(nn.Module):
    """A residual added in place, as torchvision's ResNet blocks write it (out += identity)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        out += x
        return F.relu(out)


class LayerScale(nn.Module):
    """ConvNeXt's layer scale: the map times a learned constant per channel, a model's own module with its own
    parameter (capture runs its forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.linspace(0.2, 1.5, CHANNELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) * self.gamma.view(1, -1, 1, 1)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt's block as its repository writes it: a 7x7 depthwise convolution, then channels-last (permute) for
    LayerNorm and the two Linear layers around a GELU, a layer scale, and back (permute) for the residual."""

    def __init__(self, dim: int = CHANNELS) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.act, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.linspace(0.5, 1.0, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class TokenMixer(nn.Module):
    """A vision transformer's patch tokens, x.flatten(2).transpose(1, 2), through a pre-norm MLP with its residual;
    the output is the tokens [B, H*W, C]."""

    def __init__(self, dim: int = CHANNELS) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).transpose(1, 2)
        return tokens + self.mlp(self.norm(tokens))


class YoloRows(nn.Module):
    """A YOLOv5 Detect layer's output as exported without decoding: [B, anchors * H * W, outputs] rows, anchor by
    anchor, from x.view(b, na, no, ny, nx).permute(0, 1, 3, 4, 2) and a sigmoid."""

    def __init__(self, anchors: int = 3, outputs: int = 7) -> None:
        super().__init__()
        self.anchors, self.outputs = anchors, outputs
        self.m = nn.Conv2d(CHANNELS, anchors * outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.m(F.relu(x))
        b, _, h, w = y.shape
        y = y.view(b, self.anchors, self.outputs, h, w).permute(0, 1, 3, 4, 2).contiguous()
        return y.sigmoid().view(b, -1, self.outputs)


class LinearSqueezeExcitation(nn.Module):
    """SENet's own squeeze-and-excitation: Linear layers on the pooled rows, viewed back as [B, C, 1, 1] and
    expanded over the map."""

    def __init__(self, channels: int = CHANNELS, squeezed: int = 4) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, squeezed), nn.ReLU(), nn.Linear(squeezed, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.size()
        y = self.fc(F.adaptive_avg_pool2d(x, 1).view(b, c)).view(b, c, 1, 1)
        return x * y.expand_as(x)


class GatedConvolution(nn.Module):
    """A GLU-style gated convolution (audio and keyword models): one convolution times the sigmoid of another."""

    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)
        self.gate = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value(x) * torch.sigmoid(self.gate(x))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle, as torchvision writes it: a view, a transpose and a view back."""
    b, c, h, w = x.size()
    x = torch.transpose(x.view(b, groups, c // groups, h, w), 1, 2).contiguous()
    return x.view(b, -1, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2's unit: the channels split in two, one half through a 1x1 convolution, joined and shuffled."""

    def __init__(self) -> None:
        super().__init__()
        self.branch = nn.Sequential(nn.Conv2d(CHANNELS // 2, CHANNELS // 2, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept, branch = F.relu(x).chunk(2, dim=1)
        return channel_shuffle(torch.cat((kept, self.branch(branch)), dim=1), 2)


class SqueezeExcitation(nn.Module):
    """torchvision's MobileNetV3 squeeze-and-excitation: the map times a gate per channel computed from its global
    average."""

    def __init__(self, channels: int = CHANNELS, squeezed: int = 4) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeezed, 1), nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.hardsigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return scale * x


class ChannelAttention(nn.Module):
    """CBAM's channel attention: the global average and the global max through one shared MLP, summed, then a
    sigmoid gate per channel."""

    def __init__(self, channels: int = CHANNELS, squeezed: int = 4) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, squeezed, 1, bias=False), nn.ReLU(), nn.Conv2d(squeezed, channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(gate)


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: the mean and the max over the channels, joined, a 7x7 convolution to one channel
    and a sigmoid gate per pixel."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        largest, _ = torch.max(x, dim=1, keepdim=True)
        pooled = torch.cat([torch.mean(x, dim=1, keepdim=True), largest], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


def _head(*layers: nn.Module) -> nn.Module:
    return nn.Sequential(*layers)


def _flat() -> int:
    return CHANNELS * (INPUT_SHAPE[2] // 2) * (INPUT_SHAPE[3] // 2)


# name -> the layers after the stem
OPERATORS: dict[str, Callable[[], nn.Module]] = {
    "maxpool 3x3 s2 p1": lambda: _head(nn.ReLU(), nn.MaxPool2d(3, 2, 1)),
    "max_pool2d ceil_mode": lambda: Fn(lambda x: F.max_pool2d(F.relu(x), 3, 2, ceil_mode=True)),
    "avgpool 2x2": lambda: _head(nn.ReLU(), nn.AvgPool2d(2)),
    "avg_pool2d 3x3 p1": lambda: Fn(lambda x: F.avg_pool2d(x, 3, 1, 1)),
    "global avgpool": lambda: _head(nn.ReLU(), nn.AdaptiveAvgPool2d(1)),
    "mean over H, W": lambda: Fn(lambda x: torch.relu(x).mean((2, 3))),
    "sum over H, W": lambda: Fn(lambda x: torch.relu(x).sum((2, 3))),
    "global max pool (adaptive_max_pool2d)": lambda: Fn(lambda x: F.adaptive_max_pool2d(torch.relu(x), 1)),
    "amax over H, W": lambda: Fn(lambda x: torch.amax(x, dim=(2, 3))),
    "squeeze after a global pool + linear": lambda: _head(
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), Fn(lambda x: x.squeeze(-1).squeeze(-1)), nn.Linear(CHANNELS, 10)
    ),
    "F.normalize over channels": lambda: Fn(lambda x: F.normalize(x, dim=1)),
    "flatten + linear": lambda: _head(nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(_flat(), 10)),
    "linear + bn1d + relu + dropout + identity": lambda: _head(
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(CHANNELS, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Identity(),
        nn.Linear(16, 10),
    ),
    "softmax": lambda: _head(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(CHANNELS, 10), nn.Softmax(-1)),
    "log_softmax": lambda: _head(
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(CHANNELS, 10), nn.LogSoftmax(dim=1)
    ),
    "relu (standalone)": lambda: Fn(lambda x: F.relu(F.max_pool2d(x, 2))),
    "relu6 (standalone)": lambda: _head(nn.MaxPool2d(2), nn.ReLU6()),
    "clamp(-1, 2) (hardtanh)": lambda: Fn(lambda x: x.clamp(-1.0, 2.0)),
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "leaky_relu (F)": lambda: Fn(lambda x: F.leaky_relu(x, 0.2)),
    "hardswish": lambda: nn.Hardswish(),
    "hardsigmoid": lambda: nn.Hardsigmoid(),
    "sigmoid": lambda: Fn(torch.sigmoid),
    "tanh": lambda: nn.Tanh(),
    "gelu": lambda: nn.GELU(),
    "gelu (tanh)": lambda: nn.GELU(approximate="tanh"),
    "elu": lambda: nn.ELU(0.5),
    "celu": lambda: nn.CELU(2.0),
    "selu": lambda: nn.SELU(),
    "softplus": lambda: nn.Softplus(beta=2.0, threshold=5.0),
    "mish": lambda: nn.Mish(),
    "logsigmoid": lambda: nn.LogSigmoid(),
    "abs": lambda: Fn(torch.abs),
    "log(x + 1)": lambda: Fn(lambda x: torch.log(torch.relu(x) + 1)),
    "sqrt": lambda: Fn(lambda x: torch.sqrt(torch.relu(x))),
    "rsqrt(x + 1)": lambda: Fn(lambda x: torch.rsqrt(torch.relu(x) + 1)),
    "sin": lambda: Fn(torch.sin),
    "x ** 2": lambda: Fn(lambda x: x**2),
    "prelu (one slope)": lambda: nn.PReLU(init=0.3),
    "prelu (per channel)": lambda: _per_channel_prelu(),
    "upsample nearest x2": lambda: nn.Upsample(scale_factor=2),
    "conv transpose k2 s2": lambda: nn.ConvTranspose2d(CHANNELS, 8, 2, stride=2),
    "conv transpose k2 s2 + bn + relu": lambda: nn.Sequential(
        nn.ConvTranspose2d(CHANNELS, 8, 2, stride=2, bias=False), nn.BatchNorm2d(8), nn.ReLU()
    ),
    "pixel shuffle x2": lambda: nn.Sequential(nn.ReLU(), nn.Conv2d(CHANNELS, 4 * 4, 3, padding=1), nn.PixelShuffle(2)),
    "pixel unshuffle x2 + conv": lambda: nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4 * CHANNELS, 8, 3, padding=1)),
    "Focus (strided slices joined, YOLOv5)": lambda: Fn(
        lambda x: torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1)
    ),
    "centre crop (x[:, :, 2:-2, 2:-2])": lambda: Fn(lambda x: torch.relu(x)[:, :, 2:-2, 2:-2]),
    "maximum / minimum with a constant": lambda: Fn(
        lambda x: torch.minimum(torch.maximum(x, torch.tensor(-0.5)), torch.tensor(1.5))
    ),
    "conv transpose k3 s2 p1 op1": lambda: nn.ConvTranspose2d(CHANNELS, 8, 3, stride=2, padding=1, output_padding=1),
    "conv transpose k4 s2 p1 + bn + relu": lambda: nn.Sequential(
        nn.ConvTranspose2d(CHANNELS, 8, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()
    ),
    "conv transpose k3 s1": lambda: nn.ConvTranspose2d(CHANNELS, 8, 3),
    "upsample to a size (F.interpolate)": lambda: Fn(lambda x: F.interpolate(torch.relu(x), size=(32, 48))),
    "upsample bilinear x2": lambda: nn.Upsample(scale_factor=2, mode="bilinear"),
    "upsample bilinear x2 align_corners": lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
    "resize bilinear 16x16 to 11x24": lambda: Fn(lambda x: F.interpolate(x, size=(11, 24), mode="bilinear")),
    "relu after add": lambda: AfterAdd(nn.ReLU()),
    "hardswish after add": lambda: AfterAdd(nn.Hardswish()),
    "hardswish written out (x * relu6(x + 3) / 6)": lambda: Fn(lambda x: x * F.relu6(x + 3) / 6),
    "QuickGELU (x * sigmoid(1.702 x))": lambda: Fn(lambda x: x * torch.sigmoid(1.702 * x)),
    "constant arithmetic after a pool (1 - x / 2)": lambda: Fn(lambda x: 1 - F.max_pool2d(x, 2) / 2),
    "layer scale (x * a constant per channel)": lambda: LayerScale(),
    "residual added in place (out += x)": lambda: InPlaceResidual(),
    "difference of two maps (x - avg_pool(x))": lambda: Fn(lambda x: F.relu(x) - F.avg_pool2d(F.relu(x), 3, 1, 1)),
    "squeeze-and-excitation (x * gate per channel)": lambda: _head(nn.ReLU(), SqueezeExcitation()),
    "squeeze-and-excitation with Linear layers (SENet)": lambda: _head(nn.ReLU(), LinearSqueezeExcitation()),
    "channel split and shuffle (ShuffleNetV2)": lambda: ShuffleUnit(),
    "channel interleave (torch.stack + view)": lambda: Fn(
        lambda x: torch.stack((torch.relu(x), x), 2).view(x.shape[0], -1, *x.shape[2:])
    ),
    "gated convolution (a product of two maps)": lambda: _head(nn.ReLU(), GatedConvolution()),
    "layer_norm of a channels-last map (timm LayerNorm2d)": lambda: Fn(
        lambda x: F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],)).permute(0, 3, 1, 2)
    ),
    "tokens + LayerNorm + MLP (flatten(2).transpose(1, 2))": lambda: TokenMixer(),
    "YOLO head rows (view, permute, sigmoid)": lambda: YoloRows(),
    "channel attention (CBAM)": lambda: _head(nn.ReLU(), ChannelAttention()),
    "spatial attention (CBAM: x * gate per pixel)": lambda: _head(nn.ReLU(), SpatialAttention()),
    "sum over channels": lambda: Fn(lambda x: torch.relu(x).sum(1, keepdim=True)),
    "batchnorm after maxpool": lambda: _head(nn.MaxPool2d(2), nn.BatchNorm2d(CHANNELS), nn.ReLU()),
    "conv padding='same' (even kernel)": lambda: _head(nn.ReLU(), nn.Conv2d(CHANNELS, CHANNELS, 4, padding="same")),
    "ZeroPad2d + strided conv": lambda: _head(nn.ReLU(), nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(CHANNELS, 8, 3, 2)),
    "F.pad asymmetric + conv": lambda: Fn(lambda x: F.pad(F.relu(x), (2, 1, 0, 1))),
    "F.pad reflect + conv": lambda: Fn(lambda x: F.pad(F.relu(x), (2, 1, 0, 3), mode="reflect")),
    "F.pad + maxpool (a zero_pad data move)": lambda: Fn(lambda x: F.max_pool2d(F.pad(x, (0, 1, 1, 0)), 2)),
    "dilated conv": lambda: _head(nn.ReLU(), nn.Conv2d(CHANNELS, CHANNELS, 3, padding=2, dilation=2)),
    "grouped conv (4 groups)": lambda: _head(nn.ReLU(), nn.Conv2d(CHANNELS, 12, 3, padding=1, groups=4)),
    "depthwise x2 multiplier": lambda: _head(nn.ReLU(), nn.Conv2d(CHANNELS, 16, 3, padding=1, groups=CHANNELS)),
}


def _per_channel_prelu(channels: int = CHANNELS) -> nn.PReLU:
    """Slopes spread as a trained PReLU's are (MobileFaceNet's: mostly 0..0.5, a few negative or above 1)."""
    prelu = nn.PReLU(channels)
    with torch.no_grad():
        prelu.weight.copy_(torch.linspace(-0.3, 1.2, channels))
    return prelu


class OperatorModel(nn.Module):
    """stem (3x3 conv, 3 -> 8 channels) -> the operator's layers (-> a 3x3 conv where the operator is a padding)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.stem = nn.Conv2d(INPUT_SHAPE[1], CHANNELS, 3, padding=1)
        self.op = OPERATORS[name]()
        self.tail = nn.Conv2d(CHANNELS, 8, 3) if name.startswith("F.pad") else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.op(self.stem(x)))


class AllLayers(nn.Module):
    """Every operator of the table in one model (for one firmware under QEMU): SAME and asymmetric padding,
    dilation, groups, a channel multiplier, pools, BatchNorm after a pool, table activations, a PReLU per channel,
    squeeze-and-excitation, a channel shuffle and spatial attention after it, an activation after an add, hardswish
    written out, global pooling, reflect padding, nearest and bilinear upsampling, transposed convolutions (zeros
    inserted, and kernel == stride as depth_to_space with its BatchNorm and ReLU folded), a crop, a pixel unshuffle
    and a minimum with a constant, strided slices (YOLOv5's Focus), flatten, Linear, BatchNorm1d, Dropout, a
    constant scale and shift of rows, softmax and log_softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.same = nn.Conv2d(3, 8, 4, padding="same")
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))
        self.strided = nn.Conv2d(8, 8, 3, stride=2)
        self.dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.grouped = nn.Conv2d(8, 12, 3, padding=1, groups=4)
        self.multiplier = nn.Conv2d(12, 24, 3, padding=1, groups=12)
        self.prelu = _per_channel_prelu(24)
        self.excite = SqueezeExcitation(24, 8)
        self.attend = SpatialAttention(3)
        self.bn = nn.BatchNorm2d(24)
        self.residual = nn.Conv2d(24, 24, 1)
        self.fc1 = nn.Linear(24 * 2 * 3, 16)
        self.bn1 = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(16, 10)
        self.up = nn.ConvTranspose2d(24, 4, 3, stride=2, padding=1, output_padding=1)
        self.block_up = nn.Sequential(nn.ConvTranspose2d(24, 4, 2, stride=2, bias=False), nn.BatchNorm2d(4), nn.ReLU())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = nn.functional.hardswish(self.same(x))
        x = F.leaky_relu(self.strided(self.pad(x)), 0.1)
        x = torch.tanh(self.dilated(F.pad(x, (1, 0, 0, 1))))
        x = x * F.relu6(x + 3) / 6
        x = channel_shuffle(self.excite(self.prelu(self.multiplier(F.hardsigmoid(self.grouped(x))))), 4)
        x = self.attend(x)
        x = F.relu(self.bn(F.max_pool2d(F.pad(x, (1, 0, 0, 1)), 2, padding=(0, 1))))
        x = torch.sigmoid(x + self.residual(x))
        pooled = F.avg_pool2d(x, 2)
        rows = self.drop(F.relu6(self.bn1(self.fc1(torch.flatten(pooled, 1))))) / 6 - 0.5
        upsampled = F.interpolate(pooled, scale_factor=(2, 3), mode="nearest")
        smooth = F.interpolate(pooled, size=(3, 5), mode="bilinear")
        logits = self.fc2(rows)
        mirrored = F.pad(pooled, (1, 1, 1, 0), mode="reflect")
        unshuffled = torch.minimum(F.pixel_unshuffle(x[:, :, :4, 1:5], 2), torch.tensor(0.75))
        focus = torch.cat((x[..., 0:4:2, ::2], x[..., 1:4:2, 1::2]), 1)
        outputs = (F.softmax(logits, dim=1), F.log_softmax(logits, dim=1), mirrored, upsampled, smooth, unshuffled)
        return *outputs, focus, self.up(pooled), self.block_up(pooled)


def seeded(module: nn.Module, seed: int) -> nn.Module:
    """He-initialised weights, small biases and non-trivial BatchNorm statistics from a seed; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * (2.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                m.weight.copy_(0.5 + torch.rand(n, generator=generator))
                m.bias.copy_(0.2 * torch.randn(n, generator=generator))
    return module.eval()


def realistic_inputs(shape: tuple[int, ...], count: int, seed: int = 0) -> list[torch.Tensor]:
    """Image-like inputs: blurred noise plus a horizontal gradient, as 8-bit pixels p normalised (p - 128) / 128
    (the usual preprocessing; values in [-1, 127/128])."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        noise = torch.rand(shape, generator=generator) * 2 - 1
        smooth = F.avg_pool2d(noise, 3, stride=1, padding=1, count_include_pad=False) * 1.5
        image = (smooth + torch.linspace(-0.5, 0.5, shape[-1]).expand(shape)).clamp(-1, 1)
        pixels = torch.round((image + 1) * 127.5)
        out.append((pixels - 128) / 128)
    return out


def measure(
    model: nn.Module,
    shape: tuple[int, ...],
    directory: Path,
    name: str,
    host_c: bool = True,
    bit_widths: str = "int8",
    arena_budget: int | None = None,
    exponents: str = "calibrated",
) -> tuple[float, float, list[str], bool]:
    """Over the held-out inputs: the worst SNR in dB of the outputs against the float model, the worst SNR of the
    layers after the stem against float run on the stem's own int8 output (the operator's error alone), the
    kernels, and whether host C == golden bit for bit (with host_c; else True, unchecked)."""
    from hil.compiler import float_executor, golden
    from hil.compiler.host_model import HostModel
    from hil.compiler.pipeline import compile_model

    inputs = realistic_inputs(shape, CALIBRATION_INPUTS + HELD_OUT_INPUTS)
    calibration = [to_graph_layout(x.numpy()) for x in inputs[:CALIBRATION_INPUTS]]
    compiled = compile_model(
        model, inputs[0], calibration, directory / "c", name, None, bit_widths, arena_budget, exponents
    )
    host = HostModel(compiled.emitted.sources, build_root=directory / "host") if host_c else None
    graph, qgraph = compiled.graph, compiled.qgraph
    worst, worst_op, exact = float("inf"), float("inf"), True
    for x in inputs[CALIBRATION_INPUTS:]:
        x = to_graph_layout(x.numpy())
        q = qgraph.quantize_input(x)
        ints = golden.execute(qgraph, [q])
        if host is not None:
            got = host.run([q])
            exact &= all(np.array_equal(g, ints[t]) for g, t in zip(got, qgraph.outputs, strict=True))
        reference = float_executor.outputs(graph, [x])
        stem = graph.nodes[0].output
        after_stem = {stem: qgraph.dequantize(stem, ints[stem])}
        for node in graph.nodes[1:]:
            value = float_executor.run_node(node, [after_stem[t] for t in node.inputs])
            after_stem[node.output] = value.reshape(-1, *graph.tensors[node.output].shape[1:])
        for t, f in zip(qgraph.outputs, reference, strict=True):
            worst = min(worst, golden.snr_db(f, qgraph.dequantize(t, ints[t])))
            worst_op = min(worst_op, golden.snr_db(after_stem[t], qgraph.dequantize(t, ints[t])))
    return worst, worst_op, [n.kernel for n in qgraph.nodes], exact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--bit-widths", choices=("int8", "search"), default="int8", help="search: int16 where it helps (no RAM limit)"
    )
    parser.add_argument(
        "--exponents",
        choices=("calibrated", "search"),
        default="calibrated",
        help="search: finer activation exponents where the golden SNR rises on the calibration inputs",
    )
    args = parser.parse_args(argv)
    print(f"{'operator':44s} {'model':>6s} {'op':>6s}  host C == golden  kernels after the stem")
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(OPERATORS):
            model = seeded(OperatorModel(name), args.seed)
            snr, op_snr, kernels, exact = measure(
                model, INPUT_SHAPE, Path(tmp) / str(i), f"op{i}", bit_widths=args.bit_widths, exponents=args.exponents
            )
            print(f"{name:44s} {snr:6.1f} {op_snr:6.1f}  {'yes' if exact else 'NO':16s}  {', '.join(kernels[1:])}")
    print("SNR in dB against float: model = the whole model's int8 output; op = the layers after the stem, against")
    print("float run on the stem's own int8 output (the operator's error alone). Worst of the held-out inputs.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
