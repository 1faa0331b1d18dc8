"""Int8 rounding noise at a face model's activations, for fine-tuning it to tolerate its own quantisation.

The compiled model rounds every layer's output to an int8 grid whose step is a power of two fitted to the output's
range (SeeDot's scales). The face models learn to carry information in small variations that the next layer's
BatchNorm amplifies: the RNNPool output's channels sit near 0.6 with spreads near 0.01 and the first MBConv's
BatchNorm scales them up some 300 times, so the rounding of that one tensor costs the loc output 14 dB. Training
with that rounding as noise (uniform over one step, the error rounding makes) teaches the model to read its
features in ways the grid does not disturb; `QuantisationNoise` adds it where the compiler quantises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from models.blocks import ConvBNReLU


class QuantisationNoise:
    """Forward hooks on a face model that, while `active`, add uniform noise of one int8 grid step to each output
    the compiled model quantises: the stem, RNNPool, every MBConv's expansion, depthwise, projection and sum, the
    L2Norms and the heads. The step is 2^ceil(log2(max |x|)) / 2^(bits - 1) per tensor and batch; the RNNPool
    output's range is taken about its per-channel means, as the compiler centres it (hil/compiler/centre.py)."""

    def __init__(self, model: nn.Module, bits: int = 8) -> None:
        self.model = model
        self.levels = 2 ** (bits - 1)
        self.enabled = False
        layers: list[nn.Module] = [model.conv, model.rnn_model]
        for block in model.mob:
            layers += [block, *(m for m in block.conv if isinstance(m, ConvBNReLU | nn.BatchNorm2d))]
        layers += [model.L2Norm3_3, model.L2Norm4_3, model.L2Norm5_3, *model.loc, *model.conf]
        self._handles = [layer.register_forward_hook(self._add_noise) for layer in layers]

    def _add_noise(self, layer: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return output
        spread = output.detach()
        if layer is self.model.rnn_model:
            spread = spread - spread.mean(dim=(0, 2, 3), keepdim=True)
        step = torch.exp2(torch.ceil(torch.log2(spread.abs().amax().clamp_min(1e-12)))) / self.levels
        return output + (torch.rand_like(output) - 0.5) * step

    @contextmanager
    def active(self) -> Iterator[None]:
        """Noise on for the forward passes inside the block."""
        self.enabled = True
        try:
            yield
        finally:
            self.enabled = False

    def remove(self) -> None:
        """Detach the hooks: the model is as it was."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
