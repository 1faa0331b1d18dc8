"""Classifiers: over the test inputs, the device's top-1 class agrees with the float model's often enough; where
the inputs come with truth classes, the device's top-1 accuracy is within a tolerance of the float model's."""

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


@pytest.mark.hil_truth
def test_top1_accuracy_is_within_tolerance_of_float(
    model_spec: ModelSpec, all_model_inputs, run_input, thresholds: ParityThresholds, hil_results: TestRecord
) -> None:
    labelled = [given for given in all_model_inputs if given.label is not None and not given.error]
    if not labelled:
        pytest.fail(
            f"none of the {len(all_model_inputs)} inputs has a truth class: expected a COCO category_id or a "
            "Pascal VOC <object><name> per picture",
            pytrace=False,
        )
    rows, correct = [], {"float": 0, "device": 0}
    for given in labelled:
        result = run_input(given)
        found = {"float": int(np.argmax(result.floats[0])), "device": int(np.argmax(result.device[0]))}
        for which, index in found.items():
            correct[which] += index == given.label
        name = model_spec.labels[given.label] if model_spec.labels else given.label
        rows.append({"input": given.name, "truth": name, **found})
    float_top1, device_top1 = (correct[which] / len(labelled) for which in ("float", "device"))
    hil_results.metric("top1_float", float_top1, better="higher")
    hil_results.metric("top1_device", device_top1, threshold=float_top1 - thresholds.top1_tolerance, better="higher")
    hil_results.table("top-1 class against the truth", rows)
    assert device_top1 >= float_top1 - thresholds.top1_tolerance, (
        f"top1_device {device_top1:.3f} is more than the tolerance {thresholds.top1_tolerance} below top1_float "
        f"{float_top1:.3f} over {len(labelled)} labelled inputs"
    )
