"""Per-channel centring (hil.compiler.centre): a tensor with large per-channel means and a small spread keeps a high
SNR, the centred float graph computes the same function, host C == golden, and padded consumers are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hil.compiler import float_executor, golden
from hil.compiler.calibrate import channel_ranges, profile
from hil.compiler.capture import capture
from hil.compiler.centre import centre_channels
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.compiler.quantize import quantize
from tests.compiler.host_golden import assert_host_c_equals_golden
from tests.compiler.offset_model import OffsetModel


def _nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


def _snr(graph, qgraph, x: np.ndarray) -> float:
    (expected,) = float_executor.outputs(graph, [x])
    (got,) = golden.outputs(qgraph, [qgraph.quantize_input(x)])
    return golden.snr_db(expected, qgraph.dequantize(qgraph.outputs[0], got))


def test_centring_keeps_a_small_spread_around_a_large_mean(tmp_path) -> None:
    model = OffsetModel()
    calibration = [_nhwc(model.example(i)) for i in range(1, 4)]
    x = _nhwc(model.example(9))
    graph = optimize(capture(model, model.example(0)))
    plain = quantize(graph, profile(graph, calibration))
    compiled = compile_model(model, model.example(0), calibration, tmp_path / "c", "offset_model")
    assert [n.kernel for n in compiled.qgraph.nodes if "rnnpool" in n.kernel] == ["rnnpool_offset_s8"]
    # the same function in float: the offsets folded into the 1x1 conv's bias
    (centred,) = float_executor.outputs(compiled.graph, [x])
    np.testing.assert_allclose(centred, model(torch.from_numpy(x).permute(0, 3, 1, 2)).detach().numpy(), atol=1e-3)
    before, after = _snr(graph, plain, x), _snr(compiled.graph, compiled.qgraph, x)
    print(f"offset model: SNR {before:.1f} dB plain, {after:.1f} dB centred")
    assert before < 15.0
    assert after >= 25.0
    assert_host_c_equals_golden(compiled, [_nhwc(model.example(i)) for i in (9, 10)], tmp_path / "host")


def test_a_zero_padded_consumer_is_not_centred() -> None:
    """A 3x3 conv with zero padding would read 0 at the border where the fold assumes the offset: no centring."""
    model = OffsetModel(consumer_kernel=3)
    calibration = [_nhwc(model.example(i)) for i in range(1, 3)]
    graph = optimize(capture(model, model.example(0)))
    centred, _ = centre_channels(graph, channel_ranges(graph, calibration))
    assert not any("offset" in n.params for n in centred.nodes)


GREY_MEAN = 117.312  # models.preprocess: the face models' input is a grey pixel less this


class _Stem(torch.nn.Module):
    """The face models' stem on a grey image: 3x3, stride 2, zero padding 1, 4 channels, ReLU; then a 1x1 conv.
    reader: what reads the input instead of the stem ("conv8": a 3x3 conv on 32 channels, whose 288 taps take int8
    weights; "pool": a max pool)."""

    def __init__(self, reader: str = "stem") -> None:
        super().__init__()
        torch.manual_seed(3)
        self.channels = 32 if reader == "conv8" else 1
        self.stem = torch.nn.Conv2d(self.channels, 4, 3, 2, 1) if reader != "pool" else torch.nn.MaxPool2d(2)
        self.head = torch.nn.Conv2d(4 if reader != "pool" else 1, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.stem(x)))

    def example(self, seed: int) -> torch.Tensor:
        pixels = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (1, self.channels, 24, 32)))
        return pixels.float() - GREY_MEAN


def test_a_grey_image_input_is_centred_on_its_camera_grid(tmp_path) -> None:
    """pixel - 117.312 spans -117.3..137.7: a symmetric int8 grid holds it at 2 per step (a camera bit lost). The
    compiler stores x - 11, which holds every pixel at 1 per step (q = pixel - 128), and the stem pads with -11,
    so the centred float graph is the model itself, borders included; host C == golden."""
    model = _Stem()
    calibration = [_nhwc(model.example(i)) for i in range(1, 4)]
    compiled = compile_model(model, model.example(0), calibration, tmp_path / "c", "stem")
    tensor = compiled.qgraph.tensors[compiled.qgraph.inputs[0]]
    assert (tensor.exponent, tensor.offset, tensor.zero_point) == (0, 11.0, -11)
    stem = compiled.qgraph.nodes[0]
    assert stem.kernel == "conv2d_s8_w16" and stem.params.pad_value == -11
    x = model.example(9)
    pixels = np.round(_nhwc(x) + GREY_MEAN)
    np.testing.assert_array_equal(compiled.qgraph.quantize_input(_nhwc(x)), pixels - 128)
    (centred,) = float_executor.outputs(compiled.graph, [_nhwc(x)])
    np.testing.assert_allclose(centred, _nhwc(model(x).detach()), atol=1e-3)
    graph = optimize(capture(model, model.example(0)))
    plain = quantize(graph, profile(graph, calibration))
    assert plain.tensors[plain.inputs[0]].exponent == 1
    for qgraph, worst in ((plain, 0.688), (compiled.qgraph, 0.312)):  # pixel - 117.312 on grids 2 and 1
        stored = qgraph.dequantize(qgraph.inputs[0], qgraph.quantize_input(_nhwc(x)))
        assert np.abs(stored - _nhwc(x)).max() == pytest.approx(worst, abs=1e-3)
    before, after = _snr(graph, plain, _nhwc(x)), _snr(compiled.graph, compiled.qgraph, _nhwc(x))
    print(f"stem: SNR {before:.1f} dB with the input at 2 per step, {after:.1f} dB centred")
    assert after > before
    assert_host_c_equals_golden(compiled, [_nhwc(model.example(i)) for i in (9, 10)], tmp_path / "host")


def test_an_input_in_0_to_1_that_never_reaches_0_pads_on_its_grid(tmp_path) -> None:
    """A user's first layer, a padded 3x3 convolution of one channel, reads inputs in 0.006..0.999: its finest grid
    would centre them on 129/256, where the zero it pads with is -129 steps, beyond int8 (the compile failed with
    "cannot pad with -129.0 steps"). It is centred where the pad is an int8, and the device's borders are the
    model's: host C == golden, and golden is within a few steps of float."""
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU()).eval()
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(0, 1, (1, 8, 8, 1)).astype(np.float32) for _ in range(5)]
    assert 0 < min(float(x.min()) for x in inputs[:4])
    compiled = compile_model(model, torch.zeros(1, 1, 8, 8), inputs[:4], tmp_path / "c", "unit_range")
    q = compiled.qgraph
    stem, tensor = q.nodes[0], q.tensors[q.inputs[0]]
    assert tensor.offset != 0 and -128 <= stem.params.pad_value <= 127
    assert stem.params.pad_value == round(-tensor.offset / 2.0**tensor.exponent)
    x = inputs[4]
    (device,) = golden.outputs(q, [q.quantize_input(x)])
    expected = _nhwc(model(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach())
    step = 2.0 ** q.tensors[q.outputs[0]].exponent
    assert np.abs(q.dequantize(q.outputs[0], device) - expected).max() < 3 * step
    assert_host_c_equals_golden(compiled, inputs[4:], tmp_path / "host")


def test_an_input_whose_reader_cannot_pad_with_a_value_is_not_centred() -> None:
    """A conv whose fan-in takes int8 weights pads with zeros only; a max pool has no bias to take the offset's
    response: neither input is centred."""
    for reader in ("conv8", "pool"):
        model = _Stem(reader)
        calibration = [_nhwc(model.example(i)) for i in range(1, 3)]
        graph = optimize(capture(model, model.example(0)))
        centred, _ = centre_channels(graph, channel_ranges(graph, calibration))
        assert centred.tensors[centred.inputs[0]].offset == 0.0, reader
        assert not any("pad_value" in n.attrs for n in centred.nodes), reader
