"""Calibration and quantisation: power-of-two exponents, kernel-legal shifts, SNR of the golden model vs float."""

from __future__ import annotations

import numpy as np
import pytest

from hil.compiler import float_executor, golden
from hil.compiler.calibrate import profile
from hil.compiler.capture import capture
from hil.compiler.passes import optimize
from hil.compiler.quantize import fit_exponent, quantize
from tests.compiler.random_models import RandomModel


def _nhwc(x) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize(("max_abs", "bits", "expected"), [(1.0, 8, -6), (0.99, 8, -7), (127.0, 8, 0), (6.0, 8, -4)])
def test_fit_exponent_is_seedot_rule_without_saturation(max_abs: float, bits: int, expected: int) -> None:
    assert fit_exponent(max_abs, bits) == expected
    assert round(max_abs / 2.0**expected) <= 2 ** (bits - 1) - 1


@pytest.mark.parametrize("seed", range(6))
def test_random_model_snr_vs_float(seed: int) -> None:
    model = RandomModel(seed)
    graph = optimize(capture(model, model.example()))
    q = quantize(graph, profile(graph, [_nhwc(model.example(i)) for i in range(1, 6)]))
    for node in q.nodes:
        if node.kernel.endswith("conv2d_s8"):
            assert 0 <= node.params.out_shift <= 31, node.name
            assert node.arrays["filter"].dtype == np.int8 and node.arrays["bias"].dtype == np.int32
    x = _nhwc(model.example(99))
    (expected,) = float_executor.outputs(graph, [x])
    (got,) = golden.outputs(q, [q.quantize_input(x)])
    assert golden.snr_db(expected, q.dequantize(q.outputs[0], got)) >= 20.0


def test_face_model_snr_is_reported(compiled_faces, calibration_inputs) -> None:
    """Held-out image; the figures go to the report (see the compiler's notes on the checkpoints' ranges)."""
    x = calibration_inputs[2]
    for name, compiled in compiled_faces.items():
        expected = float_executor.outputs(compiled.graph, [x])
        got = compiled.golden(x)
        snr = [
            golden.snr_db(e, compiled.qgraph.dequantize(t, g))
            for e, t, g in zip(expected, compiled.qgraph.outputs, got, strict=True)
        ]
        print(f"{name}: SNR loc {snr[0]:.1f} dB, conf {snr[1]:.1f} dB")
        assert all(np.isfinite(s) for s in snr)
