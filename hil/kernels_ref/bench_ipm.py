"""Guest instructions per MAC of each kernel under QEMU (mps2-an386, -icount shift=0), on the face models' layer
shapes of the peer table in ../shared/docs/PERF.md, with every output checked bit for bit against the numpy twin.

Run: python -m hil.kernels_ref.bench_ipm [--workdir build/kernel_bench]
Spatial sizes are cut where the full layer's input + output would not fit the board's RAM; IPM is per MAC, so
the figure barely depends on it. Timing is SysTick virtual ticks (40 instructions each) around model_run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hil.kernels_ref.device_cases import (
    KernelCase,
    add_a16_case,
    add_case,
    conv_a16_w16_case,
    conv_case,
    conv_w16_case,
    depthwise_a16_case,
    depthwise_case,
    fully_connected_case,
    grouped_conv_case,
    gru_case,
    l2norm_case,
    layer_norm_case,
    log_softmax_case,
    lstm_case,
    lut_case,
    pointwise_case,
    pool_case,
    prelu_case,
    resize_bilinear_case,
    rnnpool_case,
    run_cases,
    scale_channels_case,
    scale_pixels_case,
    softmax_case,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# The peer columns are constants copied from ../shared/docs/PERF.md (the team's shared notes, outside this
# repository; nothing of CMSIS-NN is fetched or built here), measured there under these conditions:
PEER_SOURCE = (
    "peer IPM from ../shared/docs/PERF.md (outside the repository): CMSIS-NN v7.0.0-43 and plain nested C loops "
    "(same arithmetic), arm-none-eabi-gcc 12.2 -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2, "
    "QEMU mps2-an386 -icount shift=0, NHWC int8, batch 1, per-channel requantisation with CMSIS-NN's default "
    "rounding; full layer shapes (the cases here may be spatially cut); FastGRNN rows: CMSIS-NN's int16 "
    "vector-matrix routine for [W|U] 16x20, with the gates for the full step"
)
PEER_IPM = {  # CMSIS-NN IPM, naive C IPM, the layer they were measured on (PEER_SOURCE)
    "pointwise": (2.06, 7.43, "1x1 30x40x64->128 (expand)"),
    "depthwise": (8.04, 23.07, "depthwise 3x3 s1 30x40x128"),
    "project": (1.74, 6.72, "1x1 30x40x128->32 (project)"),
    "stem": (21.21, 34.82, "3x3 s2 240x320x1->4 (stem)"),
    "head": (2.54, 6.65, "3x3 s1 30x40x32->6 (head)"),
    "rnnpool": (6.16, 8.12, "FastGRNN full step (peer) / RNNPool layer"),
}


def bench_cases(rng: np.random.Generator) -> dict[str, KernelCase]:
    """The PERF.md layers (spatially reduced where RAM requires), plus the int16-weight stem, RNNPool, add,
    L2Norm and LayerNorm."""
    return {
        "pointwise": pointwise_case(rng, 10, 40, 64, 128),
        "depthwise": depthwise_case(rng, 10, 40, 128, 1),
        "depthwise_s2": depthwise_case(rng, 10, 40, 128, 2),
        "project": pointwise_case(rng, 10, 40, 128, 32),
        "stem": conv_case(rng, 240, 320, 1, 4, 2),
        "stem_w16": conv_case(rng, 240, 320, 1, 4, 2, wide=True),  # the face models' stem has int16 weights
        "head": conv_case(rng, 30, 40, 32, 6, 1),
        "rnnpool": rnnpool_case(rng, 16, 40),
        "add": add_case(rng, 30, 40, 32),
        "l2norm": l2norm_case(rng, 30, 40, 32),
        # the general layers' kernels, on MLPerf Tiny example shapes
        "grouped": grouped_conv_case(rng, 16, 16, 32, 32, 4, 1),
        "dilated": grouped_conv_case(rng, 16, 16, 16, 16, 1, 2),
        "fc": fully_connected_case(rng, 640, 128),  # the autoencoder's first layer
        "maxpool": pool_case(rng, 32, 32, 16, 2, 2, 0, average=False),
        "avgpool": pool_case(rng, 25, 5, 64, 5, 5, 0, average=True),
        "lut": lut_case(rng, 4096),
        "prelu": prelu_case(rng, 256, 16),
        "scale_channels": scale_channels_case(rng, 28 * 28, 72),  # MobileNetV3-Large's first SE gate, 28x28x72
        "scale_pixels": scale_pixels_case(rng, 30 * 40, 32),  # CBAM's spatial attention on the M4's 30x40x32 map
        "resize_bilinear": resize_bilinear_case(rng, 15, 20, 32, 30, 40),  # an FPN-style 2x upsample to 30x40x32
        "softmax": softmax_case(rng, 16, 12),
        "log_softmax": log_softmax_case(rng, 16, 10),  # PyTorch's MNIST example's head: 10 classes, a batch of 16
        # the M4's 32-channel MBConv (mob.1: 32 -> 64 -> 32), where per-output work weighs most
        "expand_32": pointwise_case(rng, 30, 40, 32, 64),
        "project_32": pointwise_case(rng, 30, 40, 64, 32),
        "depthwise_64": depthwise_case(rng, 30, 40, 64, 1),
        # an MBConv's depthwise with the rows the bit-width search widened (expanded: int16 in; depthwise: int16 out)
        "dw_a16_16_8": depthwise_a16_case(rng, 10, 40, 128, 1, 16, 8),
        "dw_a16_8_16": depthwise_a16_case(rng, 10, 40, 128, 1, 8, 16),
        "dw_a16_16_16": depthwise_a16_case(rng, 8, 40, 128, 1, 16, 16),
        "dw_a16_16_8_s2": depthwise_a16_case(rng, 10, 40, 128, 2, 16, 8),
        # a residual add with its projection (b), its sum, or both int16 (add_a16; all int8: "add")
        "add_a16_8_16_8": add_a16_case(rng, 30, 40, 32, 8, 16, 8),
        "add_a16_8_8_16": add_a16_case(rng, 30, 40, 32, 8, 8, 16),
        "add_a16_16_16_16": add_a16_case(rng, 20, 40, 32, 16, 16, 16),
        # an MBConv expansion with int16 weights (conv2d_a16_w16) reading RNNPool's int16 output, or an int8 map
        "expand_w16": conv_a16_w16_case(rng, 5, 40, 64, 128, 1, 16, 16),
        "expand_w16_8": conv_a16_w16_case(rng, 5, 40, 64, 128, 1, 8, 8),
        "expand_w16_8_32": conv_a16_w16_case(rng, 10, 40, 32, 64, 1, 8, 8),  # the M4's mob.1 (expand_32)
        "expand_w16_32": conv_a16_w16_case(rng, 10, 40, 32, 64, 1, 16, 16),
        # last, so that the cases above draw the random data they always have: LayerNorm on l2norm's 30x40x32
        "layer_norm": layer_norm_case(rng, 30, 40, 32),
        # after the cases above (their random data unchanged): an RGB stem with int16 weights (a YOLO's first layer)
        "stem_rgb_w16": conv_w16_case(rng, 64, 64, 3, 16, 2),
        # a keyword-spotting GRU (49 MFCC frames of 32, 64 hidden units), on its own generator so its data does not
        # depend on the cases above
        "gru": gru_case(np.random.default_rng(4949), 49, 32, 64),
        # the same keyword-spotting layer as an LSTM (4 gates), on a generator of its own as well
        "lstm": lstm_case(np.random.default_rng(4950), 49, 32, 64),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "build" / "kernel_bench")
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    args = parser.parse_args(argv)
    cases = bench_cases(np.random.default_rng(20261201))
    print(PEER_SOURCE)
    print(
        f"{'case':<14} {'shape':<36} {'MACs':>11} {'instructions':>13} {'IPM':>7} {'CMSIS-NN':>9} "
        f"{'naive':>7}  bit-exact"
    )
    failures = []
    for key, case in cases.items():
        if args.only and key not in args.only:
            continue
        run = run_cases(f"bench_{key}", [case], args.workdir)
        peer = PEER_IPM.get(key)
        per_element = (
            "l2norm",
            "layer_norm",
            "log_softmax",
            "lut",
            "prelu",
            "resize_bilinear",
            "scale_channels",
            "scale_pixels",
            "softmax",
        )
        unit = "per element" if key.startswith("add") or key in per_element else ""
        unit = "per window tap" if key in ("maxpool", "avgpool") else unit
        print(
            f"{key:<14} {case.name:<36} {case.macs:>11,} {run.instructions:>13,} "
            f"{run.instructions / case.macs:>7.2f} {peer[0] if peer else '':>9} {peer[1] if peer else '':>7}  "
            f"{'yes' if not run.mismatches else 'NO'} {unit}",
            flush=True,
        )
        failures += run.mismatches
    for failure in failures:
        print("MISMATCH:", failure)
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
