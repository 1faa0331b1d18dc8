"""What precision the firmware's model was compiled to, in the report beside the figures it explains: the int16
activations the bit-width search chose, the exponents the exponent search moved, whether biases were corrected.
A nightly compile that changes any of them shows it here. They are tables, not figures: the night's verdict reads
every figure as better one way, and more int16 tensors is neither."""

from __future__ import annotations

import pytest

from hil.compiler.pipeline import CompiledModel
from hil.plugin.results_fixture import TestRecord

pytestmark = pytest.mark.hil_compiled


def test_the_compile_runs_the_precision_it_records(compiled_model: CompiledModel, hil_results: TestRecord) -> None:
    """The int16 tensors of the quantised graph the firmware runs are exactly those the bit-width search says it
    applied (none without a search)."""
    qgraph, widths, exponents = compiled_model.qgraph, compiled_model.bit_widths, compiled_model.exponents
    wide = sorted(t for t, spec in qgraph.tensors.items() if spec.dtype == "int16")
    hil_results.table(
        "quantisation",
        [
            {"int16 tensors": len(wide), "bias-corrected layers": ", ".join(compiled_model.bias_corrected) or "none"},
        ],
    )
    if widths is not None:
        hil_results.table(
            f"int16 activations (bit-width search: {widths.reason})",
            [
                {
                    "layer": c.layer,
                    "tensors": ", ".join(c.tensors),
                    "SNR gain dB": c.snr_gain_db,
                    "arena bytes": c.arena_bytes,
                    "instructions (estimated)": c.instructions,
                }
                for c in widths.choices
            ],
        )
    if exponents is not None:
        hil_results.table(
            f"exponents moved finer (exponent search, {exponents.snr_db_calibrated} -> {exponents.snr_db} dB; "
            f"bias correction {'on' if exponents.bias_correction else 'off'})",
            [
                {
                    "layer": c.layer,
                    "tensor": c.tensor,
                    "exponent": f"{c.calibrated_exponent} -> {c.exponent}",
                    "SNR gain dB": c.snr_gain_db,
                }
                for c in exponents.choices
            ],
        )
    assert wide == sorted(widths.applied if widths is not None else []), (
        f"the firmware's int16 tensors {wide} are not those the bit-width search applied "
        f"{sorted(widths.applied) if widths is not None else []}"
    )
