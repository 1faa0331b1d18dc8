"""Per-layer multiply-accumulate (MAC) and parameter counts; ``python -m models.complexity`` prints both models.

Counted per layer on one 320x240 forward pass:
- Conv2d: output elements x (input channels / groups) x kernel area (biases not counted as MACs).
- RNNPool: per patch 2 x (r*c) x (k*h1 + h1*h1) for RNN1 plus 4 x r x (h1*h2 + h2*h2) for RNN2 (MODELS.md);
  gate biases, sigmoid/tanh and the element-wise update are not MACs.
- L2Norm: 2 per element (square-accumulate and scale). BatchNorm: none (folded into the convolution).
Parameters are every learned tensor (BatchNorm affine included, running statistics not).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import nn

from models.blocks import L2Norm
from models.priors import INPUT_HEIGHT, INPUT_WIDTH
from models.registry import MODELS, get_model_entry
from models.rnnpool import RNNPool


@dataclass(frozen=True)
class LayerCost:
    """One counted layer."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int
    macs: int


def rnnpool_macs_per_patch(pool: RNNPool) -> int:
    """MACs of one RNNPool patch (both passes of RNN1, four runs of RNN2)."""
    r, c, k, h1, h2 = pool.nRows, pool.nCols, pool.inputDims, pool.nHiddenDims, pool.nHiddenDimsBiDir
    return 2 * r * c * (k * h1 + h1 * h1) + 2 * (r + c) * (h1 * h2 + h2 * h2)


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kernel = module.kernel_size[0] * module.kernel_size[1]
        return output[0].numel() * (module.in_channels // module.groups) * kernel
    if isinstance(module, RNNPool):
        patches = output[0].numel() // module.output_dims
        return patches * rnnpool_macs_per_patch(module)
    if isinstance(module, L2Norm):
        return 2 * output[0].numel()
    return 0


def count_layers(model: nn.Module, height: int = INPUT_HEIGHT, width: int = INPUT_WIDTH) -> list[LayerCost]:
    """MACs and parameters of each counted layer for one [1, 1, height, width] input, in execution order."""
    counted = (nn.Conv2d, nn.BatchNorm2d, RNNPool, L2Norm)
    costs: list[LayerCost] = []
    hooks = []
    inside_rnnpool: set[str] = set()
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside_rnnpool) or not isinstance(module, counted):
            continue
        if isinstance(module, RNNPool):
            inside_rnnpool.add(name)

        def record(mod: nn.Module, _inputs: tuple, output: torch.Tensor, layer_name: str = name) -> None:
            params = sum(p.numel() for p in mod.parameters())
            costs.append(
                LayerCost(layer_name, type(mod).__name__, tuple(output.shape), params, _layer_macs(mod, output))
            )

        hooks.append(module.register_forward_hook(record))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, height, width))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return costs


def totals(model: nn.Module) -> tuple[int, int]:
    """(parameters, MACs) of a model at 320x240."""
    return sum(p.numel() for p in model.parameters()), sum(c.macs for c in count_layers(model))


def main(argv: list[str] | None = None) -> None:
    """Print each model's totals, and with --per-layer its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-layer", action="store_true")
    parser.add_argument("--model", choices=sorted(MODELS), action="append", help="default: all")
    args = parser.parse_args(argv)
    for key in args.model or sorted(MODELS):
        model = get_model_entry(key).build()
        layers = count_layers(model)
        if args.per_layer:
            print(f"{'layer':32} {'kind':18} {'output':22} {'params':>8} {'MACs':>12}")
            for layer in layers:
                print(
                    f"{layer.name:32} {layer.kind:18} {layer.output_shape!s:22} {layer.parameters:8d} {layer.macs:12,d}"
                )
        params, macs = totals(model)
        print(f"{model.config.name}: {params:,} parameters, {macs:,} MACs ({params / 1e3:.1f} K, {macs / 1e6:.1f} M)")


if __name__ == "__main__":
    main()
