"""Every model compiled from PyTorch, per test input: the device equals the compiler's integer reference (the
golden model) bit for bit, and each output comes within the model's SNR threshold of the float model."""

from __future__ import annotations

import pytest

from hil.catalog import ModelSpec, ParityThresholds
from hil.dut import Dut
from hil.plugin.results_fixture import TestRecord

pytestmark = pytest.mark.hil_compiled


def first_diverging_layer(compiled_model, model_spec: ModelSpec, x) -> str:
    """Runs a debug build of the C the firmware was built from, layer by layer, against the reference."""
    from hil.catalog import model_sources
    from hil.compiler.debug_layers import first_layer_divergence
    from hil.compiler.host_model import HostModel

    nhwc = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
    divergence = first_layer_divergence(compiled_model, HostModel(model_sources(model_spec), debug_layers=True), nhwc)
    if divergence is None:
        return "the host build of the same C agrees with the reference at every layer: the difference is the target's"
    return divergence.describe()


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
    for name, comparison in result.comparisons.items():
        hil_results.metric(
            f"{name}_snr_db",
            comparison.snr_db,
            "dB",
            threshold=thresholds.min_snr_db,
            passed=comparison.snr_db >= thresholds.min_snr_db,
            better="higher",
            item=item,
        )
        hil_results.metric(f"{name}_cosine", comparison.cosine, better="higher", item=item)
        hil_results.metric(f"{name}_max_abs_error", comparison.max_abs_error, item=item)
    hil_results.table(
        f"{item}: device against float",
        [
            {"output": n, **{k: v for k, v in c.to_dict().items() if k != "count"}}
            for n, c in result.comparisons.items()
        ],
    )
    failures = []
    if any(result.mismatched.values()):
        failures.append(
            f"{item}: bit_exact: the device differs from the integer reference in "
            f"{', '.join(f'{n} {c} values' for n, c in result.mismatched.items() if c)}, threshold 0; "
            + first_diverging_layer(compiled_model, model_spec, model_input.x)
        )
    failures += [
        f"{item}: {name}_snr_db {comparison.snr_db:.2f} dB below the threshold {thresholds.min_snr_db} dB"
        for name, comparison in result.comparisons.items()
        if comparison.snr_db < thresholds.min_snr_db
    ]
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
