"""The board's build of the kernels (Cortex-M4, DSP path) under QEMU == the numpy twins, bit for bit, on small
shapes that reach every branch: odd pixel and channel counts, channel tails, padding, strides, clamps, and a
different output shift per channel in every convolution."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hil.kernels_ref import PReluParams, ScaleChannelsParams
from hil.kernels_ref.device_cases import (
    ElementwiseLayout,
    KernelCase,
    add_a16_case,
    add_case,
    conv_a16_bound_case,
    conv_a16_case,
    conv_a16_w16_case,
    conv_case,
    conv_w16_case,
    depthwise_a16_case,
    depthwise_case,
    fully_connected_a16_case,
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

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)


def test_dsp_build_matches_twins_under_qemu(tmp_path: Path) -> None:
    rng = np.random.default_rng(8080)
    cases = [
        pointwise_case(rng, 3, 5, 37, 9),  # 15 pixels (odd), C_in % 4 = 1, C_out odd
        pointwise_case(rng, 2, 4, 64, 16),
        depthwise_case(rng, 7, 9, 19, 1),  # channel tail of 3
        depthwise_case(rng, 8, 10, 16, 2),
        conv_case(rng, 9, 11, 1, 4, 2),  # the stem's shape
        conv_case(rng, 9, 11, 1, 4, 2, wide=True),  # the face models' stem: int16 weights
        conv_case(rng, 6, 7, 5, 3, 1),
        add_case(rng, 3, 5, 7),
        l2norm_case(rng, 3, 4, 21),
        rnnpool_case(rng, 12, 12, k=3, h1=7, h2=5, patch=6, stride=3),  # odd sizes: the scalar tails
        rnnpool_case(rng, 12, 13, k=2, h1=5, h2=3, patch=5, stride=2, offset=True),  # the ring wraps mid-patch
        rnnpool_case(rng, 8, 12, offset=True),  # the face model's RNNPool(8, 8, 16, 16, 4)
    ]
    run = run_cases("kernel_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0


def test_layer_kernels_match_twins_under_qemu(tmp_path: Path) -> None:
    """The general models' kernels (one firmware of their own: INFO holds a bounded number of tensors)."""
    rng = np.random.default_rng(8181)
    cases = [
        grouped_conv_case(rng, 7, 9, 12, 8, 2, 1),  # 6 channels a group: one SMLAD word and a tail of 2
        grouped_conv_case(rng, 8, 6, 6, 12, 6, 2),  # depthwise with a channel multiplier of 2, dilated
        fully_connected_case(rng, 37, 9),  # odd rows: the 2-row loop and its tail
        pool_case(rng, 9, 7, 13, 3, 2, 1, average=False),  # 13 channels: SSUB8/SEL words and a tail
        pool_case(rng, 9, 7, 13, 3, 2, 1, average=True),
        pool_case(rng, 5, 5, 8, 5, 1, 0, average=True),  # global average
        lut_case(rng, 77),
        prelu_case(rng, 11, 7),
        scale_channels_case(rng, 11, 7),
        scale_channels_case(rng, 5, 12, 0),  # the product on the output's grid
        softmax_case(rng, 3, 12),
        depthwise_case(rng, 5, 6, 12, 1),  # stride 1: each row's run of whole windows between its borders
        depthwise_case(rng, 4, 3, 8, 1),  # a run of one window
    ]
    run = run_cases("layer_kernel_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0


def test_scale_pixels_matches_twin_under_qemu(tmp_path: Path) -> None:
    """scale_pixels_s8 built for the M4, in a firmware of its own (the layer kernels' holds 15 of INFO's 16 inputs):
    one channel, odd and even channel counts, in place, shifts 0, 6 and 14."""
    rng = np.random.default_rng(8787)
    cases = [
        scale_pixels_case(rng, 11, 7),
        scale_pixels_case(rng, 5, 12, 0),
        scale_pixels_case(rng, 6, 1, 14),
        scale_pixels_case(rng, 7, 5, in_place=True),
    ]
    run = run_cases("scale_pixels_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0


# The element-wise kernels' clamps: the int8 range (the EOR path), inside it (UQSUB8, UADD8), one value, one side,
# and past int8 (the board's plain loop)
ELEMENTWISE_CLAMPS = [(-128, 127), (-120, 120), (0, 127), (-100, 100), (-128, -128), (127, 127), (5, 5), (-128, 0)]
ELEMENTWISE_CLAMPS_WIDE = [*ELEMENTWISE_CLAMPS, (-300, 300)]
# (pixels, channels, layout): tails of 1, 2, 3 and 0 channels after the words, fewer than 4 channels (the plain
# loop), one pixel of one word, the map and outputs 0..3 bytes past a word (every run's output a further 3 bytes on),
# in place
ELEMENTWISE_SHAPES = [
    (5, 17, ElementwiseLayout()),
    (3, 6, ElementwiseLayout(1, 2)),
    (4, 11, ElementwiseLayout(3, 3, in_place=True)),
    (2, 8, ElementwiseLayout(2, 1)),
    (2, 3, ElementwiseLayout(0, 3)),
    (1, 4, ElementwiseLayout(1, 1, in_place=True)),
    (7, 16, ElementwiseLayout(2, 0)),
    (3, 5, ElementwiseLayout(0, 2)),
]
# every out_shift with a clamp inside int8, and the clamps at the shifts where the M4's path changes (the gate's
# 16-bit factor: x * 256 below 8; all rounded products 0 from 16)
SCALE_RUNS = [ScaleChannelsParams(s, -120, 120) for s in range(32)] + [
    ScaleChannelsParams(s, lo, hi) for s in (0, 7, 8, 15, 16, 31) for lo, hi in ELEMENTWISE_CLAMPS_WIDE
]


@pytest.mark.parametrize("kernel", [scale_channels_case, scale_pixels_case], ids=["channels", "pixels"])
def test_scale_kernels_every_path_under_qemu(tmp_path: Path, kernel: Callable[..., KernelCase]) -> None:
    """scale_channels_s8 and scale_pixels_s8 built for the M4 (SMLAxy, PKHTB, USAT16 words; a firmware each: 8 cases of
    2 inputs): every out_shift 0..31 and each clamp of ELEMENTWISE_CLAMPS_WIDE at the path's edges, on the shapes and
    layouts of ELEMENTWISE_SHAPES (tails, the plain loop, misaligned and in place, the bytes around every output
    unchanged), the maps' first pixel -128 under gates -128, the second -128 and the third 127 under gates 127.
    (Checked by mutation: the odd lanes with the even gates, no UQSUB8, the -128..127 EOR missing a byte, the x * 256
    regime from shift 7, large shifts capped at 15, the rounding addend 2^15 - 1, the last word or the channel tails
    skipped, a pixel too many, words read from the word boundary below: each fails this test.)"""
    rng = np.random.default_rng(8990)
    cases = [kernel(rng, p, c, runs=SCALE_RUNS, extremes=True, layout=layout) for p, c, layout in ELEMENTWISE_SHAPES]
    run = run_cases(f"{kernel.__name__}_paths", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)


def test_prelu_every_path_under_qemu(tmp_path: Path) -> None:
    """prelu_s8 built for the M4 (SMLAWx, USAT words; SADD8/UQADD8/UHADD8 and SEL for the positive side): out_shift
    1..17 (the DSP path) with pos_shift - out_shift 0, 1, -1 (its own loops) and 2, -2, 5, -7, 9, -10 (the general
    one), out_shift 0, 18 and 31 (the plain loop), each clamp of ELEMENTWISE_CLAMPS_WIDE, the int16 extremes among
    the slopes, on the shapes and layouts of ELEMENTWISE_SHAPES. (Checked by mutation: multipliers one bit short,
    halvings without their rounding, the d = 1 column doubling twice, the d = 0 -128..127 EOR missing a byte, the
    positive bias from the wrong constant, SEL's operands swapped, out_shift 18 on the DSP path, words read from the
    word boundary below: each fails this test.)"""
    rng = np.random.default_rng(9090)
    sides = [0, 1, -1, 2, -2, 5, -7, 9, -10]
    runs = [
        PReluParams(min(23, max(0, s + d)), s, lo, hi)
        for s in (1, 2, 8, 13, 16, 17)
        for d in sides
        for lo, hi in ((-120, 120), (-128, 127))
    ]
    runs += [PReluParams(min(23, max(0, s + d)), s, -100, 90) for s in (0, 18, 31) for d in sides]
    runs += [PReluParams(14, 13, lo, hi) for lo, hi in ELEMENTWISE_CLAMPS_WIDE]
    runs += [PReluParams(14, 14, lo, hi) for lo, hi in ELEMENTWISE_CLAMPS_WIDE]
    cases = [
        prelu_case(rng, p, c, runs=runs, slope_bound=32768, extremes=True, layout=layout)
        for p, c, layout in ELEMENTWISE_SHAPES
    ]
    run = run_cases("prelu_paths", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)


def test_layer_norm_matches_twin_under_qemu(tmp_path: Path) -> None:
    """layer_norm_s8 built for the M4 (USADA8, SMLAD, SMMLAR and SMMLA; a firmware of its own, as scale_pixels_s8's):
    each per-channel loop (the rounded high word at out_shift 6, the floored one at 20 on 256 channels, the 64-bit
    formula at -8, and at 26 on 4096 channels), one channel, an odd count, eps > 0 on a constant pixel, and each
    case's first pixel constant, its second half -128 and half 127."""
    rng = np.random.default_rng(8888)
    cases = [
        layer_norm_case(rng, 3, 4, 21),
        layer_norm_case(rng, 2, 3, 1, eps=5),
        layer_norm_case(rng, 2, 2, 7, eps=1000),
        layer_norm_case(rng, 2, 2, 256, out_shift=20),
        layer_norm_case(rng, 2, 3, 64, out_shift=-8),
        layer_norm_case(rng, 1, 2, 4096, out_shift=26),
    ]
    run = run_cases("layer_norm_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0


def test_resize_bilinear_matches_twin_under_qemu(tmp_path: Path) -> None:
    """resize_bilinear_s8 built for the M4 (a firmware of its own: the layer kernels' already holds 15 of INFO's 16
    inputs): x2 upscale with an odd channel count, non-integer factors both ways with either coordinate rule, 1 -> 4
    and an output of one pixel."""
    rng = np.random.default_rng(8585)
    cases = [
        resize_bilinear_case(rng, 4, 5, 7, 8, 10),
        resize_bilinear_case(rng, 5, 7, 6, 7, 5),
        resize_bilinear_case(rng, 7, 5, 9, 5, 7, align_corners=1),
        resize_bilinear_case(rng, 3, 3, 4, 9, 9, align_corners=1),
        resize_bilinear_case(rng, 1, 1, 3, 4, 4),
        resize_bilinear_case(rng, 6, 5, 5, 1, 1, align_corners=1),
    ]
    run = run_cases("resize_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0


def test_log_softmax_matches_twin_under_qemu(tmp_path: Path) -> None:
    """log_softmax_s8 built for the M4 (a firmware of its own, as resize_bilinear_s8's: the layer kernels' holds 15 of
    INFO's 16 inputs): MNIST's 10 classes, one channel, two, 1000 channels (a sum of 2^k > 2^16 with k > 0: the
    fraction's low bits cut), the input exponents' extremes, output shifts 0, 1, 3 and 15; every case's first row is
    all equal and its second one-hot. (Checked by mutation: without log_table's interpolation step, or with the
    shift-0 offset floored, this test fails.)"""
    rng = np.random.default_rng(8686)
    cases = [
        log_softmax_case(rng, 16, 10, -3, 1),
        log_softmax_case(rng, 3, 1, -1, 0),
        log_softmax_case(rng, 48, 2, -7, 0),  # ln(1 + e^d) at the finest steps: a wrong logarithm shows
        log_softmax_case(rng, 3, 1000, -7, 3),
        log_softmax_case(rng, 6, 33, -1, 3),
        log_softmax_case(rng, 16, 10, -5, 15),
    ]
    run = run_cases("log_softmax_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0


def test_wide_activation_kernels_match_twins_under_qemu(tmp_path: Path) -> None:
    """The bit-width search's int16 activation kernels, every pair of widths."""
    rng = np.random.default_rng(8282)
    cases = [
        fully_connected_a16_case(rng, 37, 9, 8, 16),
        fully_connected_a16_case(rng, 700, 5, 16, 16),  # 64-bit sums
        fully_connected_a16_case(rng, 64, 11, 16, 8),
        conv_a16_case(rng, 9, 7, 1, 8, 1, 8, 16),  # the stem's shape: int8 image, int16 map
        conv_a16_case(rng, 9, 8, 5, 6, 2, 16, 16),
        conv_a16_case(rng, 7, 6, 3, 4, 2, 16, 8),
        conv_a16_case(rng, 6, 7, 6, 5, 1, 16, 8),  # pixel pairs over contiguous int16 tap rows (SMLAxy)
        conv_a16_case(rng, 4, 5, 60, 3, 1, 16, 16),  # a window of 540 values: int16 taps one by one
        conv_a16_case(rng, 3, 3, 520, 2, 1, 16, 8),  # 520 channels: a tap's sum could pass int32, the 64-bit loop
        depthwise_a16_case(rng, 7, 6, 12, 1, 16, 16),  # an MBConv's widened expanded and depthwise rows (SMLAxy)
        depthwise_a16_case(rng, 8, 7, 10, 2, 16, 8),  # 10 channels: two blocks of 4 and a tail of 2
        depthwise_a16_case(rng, 5, 6, 7, 1, 8, 16),
        depthwise_a16_case(rng, 5, 6, 8, 1, 16, 16, 2**31 - 1),  # biases past 2^30: not the 3x3 run, 64 bits
        # whole 3x3 windows of 4-channel blocks take the unrolled run (dw_a16_3x3_run), one per pair of widths
        depthwise_a16_case(rng, 6, 9, 8, 2, 16, 8),
        depthwise_a16_case(rng, 5, 7, 4, 1, 8, 16),
        depthwise_a16_case(rng, 4, 6, 8, 1, 8, 8),
    ]
    run = run_cases("wide_kernel_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0


def test_int16_weight_kernel_matches_twin_under_qemu(tmp_path: Path) -> None:
    """conv2d_a16_w16 built for the M4 (SMLALD over an int16 input's channel pairs, SMLAD over an int8 input's paired
    filter, two output channels at a time), the 1x1 path and the general one, every pair of widths, odd output
    channels and odd channel tails; each case's channel 0 sums extreme products past int32."""
    rng = np.random.default_rng(8484)
    cases = [
        conv_a16_w16_case(rng, 3, 5, 64, 8, 1, 16, 16),  # the face models' first MBConv expansion's shape
        conv_a16_w16_case(rng, 3, 4, 7, 3, 1, 16, 8),  # the 1x1 path with an odd channel tail and output channel
        conv_a16_w16_case(rng, 4, 3, 7, 5, 3, 16, 8),  # the general path
        conv_a16_w16_case(rng, 3, 4, 6, 3, 1, 8, 16),
        conv_a16_w16_case(rng, 3, 3, 5, 4, 3, 8, 8),
        # an int8 input whose channels come in 4s reads the paired filter (SMLAD in int32), below 512 channels a tap
        conv_a16_w16_case(rng, 3, 4, 8, 3, 1, 8, 16),
        conv_a16_w16_case(rng, 3, 3, 12, 5, 3, 8, 8),
        conv_a16_w16_case(rng, 1, 2, 512, 3, 1, 8, 16),  # 512: a tap could pass int32, one product at a time
    ]
    run = run_cases("w16_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)


def test_int16_weight_columns_match_twin_under_qemu(tmp_path: Path) -> None:
    """conv2d_s8_w16 with more than one input channel built for the M4 (each pixel's taps widened into a column with
    SXTB16 and packs, SMLAD over 4 output channels at a time, then 2, then 1): an RGB stem, odd and even fan-ins
    (the single-product tail), out_c from 1 to 16 (every remainder of 4), kernels 1x1 to 7x7, fan-in 256, no bias,
    and pad values 0, -11, 127 and -128 at the borders."""
    rng = np.random.default_rng(8989)
    cases = [
        conv_w16_case(rng, 64, 64, 3, 16, 2, pad_value=-11),  # an RGB stem (bench_ipm's stem_rgb_w16)
        conv_w16_case(rng, 9, 11, 3, 7, 1, pad_value=127),  # fan-in 27, out_c 7: 4 + 2 + 1
        conv_w16_case(rng, 8, 7, 2, 6, 2, k=5, pad_value=-128, bias=False),  # fan-in 50 (even), 4 + 2
        conv_w16_case(rng, 7, 9, 4, 5, 1, k=7, pad_value=0),  # fan-in 196, 4 + 1
        conv_w16_case(rng, 9, 9, 5, 3, 2, k=7, pad_value=-128),  # fan-in 245 (odd), 2 + 1
        conv_w16_case(rng, 3, 4, 256, 1, 1, k=1),  # fan-in 256, one output channel
        conv_w16_case(rng, 5, 6, 8, 2, 1, k=1, bias=False),  # 1x1, pairs only
    ]
    run = run_cases("w16_column_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0


def test_wide_activation_kernels_at_their_edges_under_qemu(tmp_path: Path) -> None:
    """conv2d_a16: an int16 window of 256 values takes the 32-bit requantisation with bias plus sum at 2^31 - 1; one of
    257 values, whose sum passes int32, the 64-bit one (checked by mutation: with HIL_A16_NARROW_S16_MAX_N 257 the
    second case's overflowed channels differ from the twin); int16 channels in 4s read the paired filter
    (conv_a16_device_filter), as pixel pairs, tap by tap and (in the wide kernels' test) one pixel and 64-bit sums.
    depthwise_conv2d_a16: padding 3 cuts windows to nothing
    at the corners, each such output its bias alone, through the spans of every pair of widths. add_a16: each side
    shifted to its bound, the extremes' sum at -2^30."""
    rng = np.random.default_rng(8383)
    cases = [
        conv_a16_bound_case(rng, 256),
        conv_a16_bound_case(rng, 257),
        conv_a16_case(rng, 5, 6, 8, 4, 1, 16, 8),  # int16 channels in 4s: the paired filter, pixel pairs
        conv_a16_case(rng, 6, 7, 12, 3, 2, 16, 16),  # the same tap by tap (stride 2)
        depthwise_a16_case(rng, 4, 5, 8, 1, 16, 8, pad=3),
        depthwise_a16_case(rng, 4, 5, 8, 2, 8, 16, pad=3),
        depthwise_a16_case(rng, 3, 4, 4, 1, 16, 16, pad=3),
        depthwise_a16_case(rng, 3, 4, 4, 1, 8, 8, pad=3),
        add_a16_case(rng, 3, 5, 7, 16, 16, 16),
        add_a16_case(rng, 2, 3, 8, 8, 16, 16),
        add_a16_case(rng, 2, 3, 5, 16, 8, 8),
    ]
    run = run_cases("a16_edge_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)


def test_gru_matches_twin_under_qemu(tmp_path: Path) -> None:
    """gru_s8 built for the M4 (SMLAD over three gate rows, LDRD word pairs; a firmware of its own): each layout (sizes
    in multiples of 8, even sizes with a 2- and 4-column head, odd sizes one word at a time) in both summation orders
    (W x first, and U h first with uh_shift > wx_shift), reverse, last_only, a batch of 3, one input and one unit,
    output exponents 0, -8, -9 and -15; each case's first frame -128 / 127 alternately. (Checked by mutation: a wrong
    row in the 2-column head, or a wrong scale in the U-first order, fails this test.)"""
    rng = np.random.default_rng(9191)
    cases = [
        gru_case(rng, 7, 16, 8),
        gru_case(rng, 5, 16, 24, u_first=True, reverse=1),
        gru_case(rng, 6, 10, 6, batch=3, out_exponent=-9),
        gru_case(rng, 4, 6, 10, u_first=True, last_only=1),
        gru_case(rng, 5, 7, 5, reverse=1, out_exponent=0),
        gru_case(rng, 4, 9, 3, u_first=True, batch=3, out_exponent=-8),
        gru_case(rng, 3, 1, 1, last_only=1, reverse=1, out_exponent=-15),
        gru_case(rng, 3, 32, 64),  # the keyword-spotting layer's shape (bench_ipm's "gru")
    ]
    run = run_cases("gru_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0


def test_lstm_matches_twin_under_qemu(tmp_path: Path) -> None:
    """lstm_s8 built for the M4 (SMLAD over four gate rows, LDRD word pairs, SMULL / SMLAL for the cell; a firmware of
    its own): each layout (sizes in multiples of 8, even sizes with a 2- and 4-column head, odd sizes one word at a
    time) in both summation orders (W x first, and U h first with uh_shift > wx_shift), reverse, last_only, a batch
    of 3, one input and one unit, output exponents 0, -8, -9 and -15, cell states growing past 1 (the 64-bit f * c,
    tanh(c) at the table's end) in both orders and two layouts; each case's first frame -128 / 127 alternately.
    (Checked by mutation: a wrong row in the 2-column head, a wrong row in the unaligned words, or f * c in 32 bits,
    fails this test.)"""
    rng = np.random.default_rng(9292)
    cases = [
        lstm_case(rng, 7, 16, 8),
        lstm_case(rng, 5, 16, 24, u_first=True, reverse=1),
        lstm_case(rng, 6, 10, 6, batch=3, out_exponent=-9),
        lstm_case(rng, 4, 6, 10, u_first=True, last_only=1),
        lstm_case(rng, 5, 7, 5, reverse=1, out_exponent=0),
        lstm_case(rng, 4, 9, 3, u_first=True, batch=3, out_exponent=-8),
        lstm_case(rng, 3, 1, 1, last_only=1, reverse=1, out_exponent=-15),
        lstm_case(rng, 40, 6, 10, batch=2, cell_growth=True),
        lstm_case(rng, 30, 5, 7, u_first=True, out_exponent=-15, cell_growth=True),
        lstm_case(rng, 3, 32, 64),  # the keyword-spotting layer's shape (bench_ipm's "lstm")
    ]
    run = run_cases("lstm_parity", cases, tmp_path)
    assert not run.mismatches, "\n".join(run.mismatches)
    assert run.instructions > 0
