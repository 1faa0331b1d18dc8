"""Float inference speed on this CPU: ``python -m models.benchmark`` prints images/s of each model's forward pass."""

from __future__ import annotations

import argparse
import time

import torch

from models.registry import MODELS, get_model_entry


def images_per_second(model: torch.nn.Module, batch_size: int, seconds: float = 5.0) -> float:
    """Forward passes of random 320x240 grey batches, timed for at least ``seconds`` after one warm-up pass."""
    model.eval()
    x = torch.randn(batch_size, 1, 240, 320)
    with torch.no_grad():
        model(x)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(x)
            runs += 1
    return runs * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in sorted(MODELS):
        model = get_model_entry(name).build()
        single = images_per_second(model, 1, args.seconds)
        batched = images_per_second(model, 16, args.seconds)
        print(
            f"{model.config.name}: {single:.1f} images/s at batch 1, {batched:.1f} images/s at batch 16 "
            f"({args.threads} threads, float32)"
        )


if __name__ == "__main__":
    main()
