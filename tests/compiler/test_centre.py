"""Per-channel centring (hil.compiler.centre): a tensor with large per-channel means and a small spread keeps a high
SNR, the centred float graph computes the same function, host C == golden, and padded consumers are refused."""

from __future__ import annotations

import numpy as np
import torch

from hil.compiler import float_executor, golden
from hil.compiler.calibrate import channel_ranges, profile
from hil.compiler.capture import capture
from hil.compiler.centre import centre_channels
from hil.compiler.host_model import HostModel
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.compiler.quantize import quantize
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
    host = HostModel(compiled.emitted.sources, build_root=tmp_path / "host")
    for i in (9, 10):
        q = compiled.qgraph.quantize_input(_nhwc(model.example(i)))
        np.testing.assert_array_equal(host.run([q])[0], golden.outputs(compiled.qgraph, [q])[0])


def test_a_zero_padded_consumer_is_not_centred() -> None:
    """A 3x3 conv with zero padding would read 0 at the border where the fold assumes the offset: no centring."""
    model = OffsetModel(consumer_kernel=3)
    calibration = [_nhwc(model.example(i)) for i in range(1, 3)]
    graph = optimize(capture(model, model.example(0)))
    centred, _ = centre_channels(graph, channel_ranges(graph, calibration))
    assert not any("offset" in n.params for n in centred.nodes)
