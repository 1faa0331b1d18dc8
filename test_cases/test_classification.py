"""Classifiers: over the test inputs, the device's top-1 class agrees with the float model's often enough."""

from __future__ import annotations

import numpy as np
import pytest

from hil.catalog import ModelSpec, ParityThresholds
from hil.plugin.results_fixture import TestRecord

pytestmark = [pytest.mark.hil_compiled, pytest.mark.hil_task("classification")]


def test_top1_agrees_with_float(
    model_spec: ModelSpec, all_model_inputs, run_input, thresholds: ParityThresholds, hil_results: TestRecord
) -> None:
    readable = [given for given in all_model_inputs if not given.error]
    labels = model_spec.labels
    rows, agreed = [], 0
    for given in readable:
        result = run_input(given)
        device, float_ = (int(np.argmax(outputs[0])) for outputs in (result.device, result.floats))
        agreed += device == float_
        rows.append(
            {
                "input": given.name,
                "float": labels[float_] if labels else float_,
                "device": labels[device] if labels else device,
            }
        )
    agreement = agreed / len(readable)
    hil_results.metric("top1_agreement", agreement, threshold=thresholds.min_top1_agreement, better="higher")
    hil_results.table("top-1 class, float against device", rows)
    assert agreement >= thresholds.min_top1_agreement, (
        f"top1_agreement {agreement:.3f} below the threshold {thresholds.min_top1_agreement} "
        f"({agreed} of {len(readable)} inputs give the float model's class)"
    )
