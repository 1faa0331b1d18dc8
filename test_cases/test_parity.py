"""Every model compiled from PyTorch, per test input: the device equals the compiler's integer reference (the
golden model) bit for bit, and each output comes within the model's SNR threshold of the float model. A face
detector (output measure 'faces') is also held to it where its boxes are read: loc at the anchors the float model
calls faces (loc_at_faces_snr_db); its face probability's SNR is recorded beside it, not thresholded (a change
of probability moves a detection only near the score threshold, which the detection tests judge). Each input's
tensors that saturate (hil.compiler.saturation) are recorded, and an SNR below its threshold says whether one did."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from hil.catalog import ModelSpec, ParityThresholds
from hil.compiler.saturation import loss_diagnosis
from hil.dut import Dut
from hil.plugin.results_fixture import TestRecord

pytestmark = pytest.mark.hil_compiled
SATURATED_ROWS = 5  # the report's table of saturating tensors per input: the worst ones say where


def first_diverging_layer(compiled_model, model_spec: ModelSpec, x) -> str:
    """Runs a debug build of the C the firmware was built from, layer by layer, against the reference."""
    from hil.catalog import model_sources
    from hil.compiler.debug_layers import first_layer_divergence
    from hil.compiler.host_model import HostModel
    from hil.compiler.ir import to_graph_layout

    divergence = first_layer_divergence(
        compiled_model, HostModel(model_sources(model_spec), debug_layers=True), to_graph_layout(x)
    )
    if divergence is None:
        return "the host build of the same C agrees with the reference at every layer: the difference is the target's"
    return divergence.describe()


def face_figures(
    measured: dict[str, float | None], thresholds: ParityThresholds
) -> dict[str, tuple[float, float | None]]:
    """A face detector's SNRs where detections are read: metric name -> (dB, threshold or None); loc at the faces
    is left out when no anchor reaches the face probability (nothing is read there)."""
    figures = {"face_probability_snr": (measured["face_probability"], None)}
    if measured["loc_faces"] is not None:
        figures["loc_at_faces_snr_db"] = (measured["loc_faces"], thresholds.min_snr_db)
    return figures


def test_device_matches_reference_and_float(
    dut: Dut,
    compiled_model,
    model_spec: ModelSpec,
    model_input,
    run_input,
    thresholds: ParityThresholds,
    hil_results: TestRecord,
) -> None:
    result = run_input(model_input)
    item = model_input.name
    for name, count in result.mismatched.items():
        hil_results.metric(f"{name}_mismatched_vs_reference", count, threshold=0, passed=count == 0, item=item)
    faces = face_figures(result.measured, thresholds) if model_spec.output_measure == "faces" else {}
    # every SNR against float: metric name -> (dB, threshold or None)
    snrs = {f"{n}_snr_db": (c.snr_db, thresholds.min_snr_db) for n, c in result.comparisons.items()} | faces
    for name, (value, limit) in snrs.items():
        passed = None if limit is None else value >= limit
        hil_results.metric(name, value, "dB", threshold=limit, passed=passed, better="higher", item=item)
    for name, comparison in result.comparisons.items():
        hil_results.metric(f"{name}_cosine", comparison.cosine, better="higher", item=item)
        hil_results.metric(f"{name}_max_abs_error", comparison.max_abs_error, item=item)
    worst = result.saturated[0].fraction if result.saturated else 0.0
    hil_results.metric("saturated_values_percent", 100 * worst, "%", better="lower", item=item)
    if result.saturated:
        hil_results.table(
            f"{item}: tensors at the ends of their range",
            [{**asdict(s), "percent": round(100 * s.fraction, 2)} for s in result.saturated[:SATURATED_ROWS]],
        )
    hil_results.table(
        f"{item}: device against float",
        [{"output": n, **{k: v for k, v in c.to_dict().items() if k != "count"}} for n, c in result.comparisons.items()]
        + [{"output": name.removesuffix("_db").removesuffix("_snr"), "snr_db": v} for name, (v, _) in faces.items()],
    )
    failures = []
    if any(result.mismatched.values()):
        failures.append(
            f"{item}: bit_exact: the device differs from the integer reference in "
            f"{', '.join(f'{n} {c} values' for n, c in result.mismatched.items() if c)}, threshold 0; "
            + first_diverging_layer(compiled_model, model_spec, model_input.x)
        )
    below = [
        f"{item}: {name} {value:.2f} dB below the threshold {limit} dB"
        for name, (value, limit) in snrs.items()
        if limit is not None and value < limit
    ]
    if below:
        failures += [*below, f"{item}: {loss_diagnosis(result.saturated)}"]
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
