"""Detection models against the float model: per input, the device finds what the float model finds (recall
and precision, with truth boxes drawn when known); over the inputs, its AP@0.5 against the truth is within a
tolerance of the float model's. A per-input failure says whether a tensor saturated on the input
(hil.compiler.saturation)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from hil.catalog import ModelSpec, ParityThresholds
from hil.catalog.truth import load_truth
from hil.compiler.saturation import loss_diagnosis
from hil.parity.detection_parity import compare_detections
from hil.parity.face_detections import draw_detections
from hil.plugin.options import HilOptions
from hil.plugin.results_fixture import TestRecord

pytestmark = [pytest.mark.hil_compiled, pytest.mark.hil_task("detection")]


def _detections(spec: ModelSpec, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    boxes, scores = spec.decode(outputs)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32).reshape(-1)


DETECTIONS_FILE = "detections.jsonl"


def _rows(boxes: np.ndarray, scores: np.ndarray, min_score: float) -> list[dict]:
    return [
        {"box": [round(float(v), 1) for v in box], "score": round(float(score), 4)}
        for box, score in zip(boxes, scores, strict=True)
        if score >= min_score
    ]


def keep_detections(options: HilOptions, model: str, name: str, found: dict[str, list[dict]], truth) -> None:
    """One line per input in the run's detections.jsonl beside results.json (appends: xdist workers share it)."""
    if options.out_dir is None:
        return
    options.out_dir.mkdir(parents=True, exist_ok=True)
    line = {"model": model, "input": name, **found, "truth": None if truth is None else truth.round(1).tolist()}
    with (options.out_dir / DETECTIONS_FILE).open("a") as f:
        f.write(json.dumps(line) + "\n")


def test_detections_match_float(
    model_spec: ModelSpec,
    model_input,
    run_input,
    thresholds: ParityThresholds,
    hil_options: HilOptions,
    hil_results: TestRecord,
) -> None:
    result = run_input(model_input)
    float_found, device_found = (_detections(model_spec, outputs) for outputs in (result.floats, result.device))
    parity = compare_detections(
        *float_found, *device_found, min_score=model_spec.min_score, score_margin=hil_options.score_margin
    )
    item = model_input.name
    hil_results.metric("recall_vs_float", parity.recall, threshold=thresholds.min_recall, better="higher", item=item)
    hil_results.metric(
        "precision_vs_float", parity.precision, threshold=thresholds.min_precision, better="higher", item=item
    )
    found = {
        by: _rows(*detections, model_spec.min_score)
        for by, detections in (("float", float_found), ("device", device_found))
    }
    keep_detections(hil_options, model_spec.name, item, found, model_input.truth)
    hil_results.table(f"{item}: detections", [{"by": by, **row} for by, rows in found.items() for row in rows])
    if model_input.pixels is not None:
        grey = (
            model_input.pixels if model_input.pixels.ndim == 2 else cv2.cvtColor(model_input.pixels, cv2.COLOR_RGB2GRAY)
        )
        truth = model_input.truth if model_input.truth is not None else np.zeros((0, 4))
        hil_results.image(
            f"{item}: truth white, float green, device red",
            draw_detections(grey, truth, float_found, device_found, model_spec.min_score),
        )
    failures = []
    if parity.recall < thresholds.min_recall:
        failures.append(
            f"{item}: recall_vs_float {parity.recall:.3f} below the threshold {thresholds.min_recall} "
            f"({parity.matched} of {parity.reference_count} float detections with score >= {model_spec.min_score} "
            f"found at score >= {model_spec.min_score - parity.score_margin:.2f})"
        )
    if parity.precision < thresholds.min_precision:
        failures.append(
            f"{item}: precision_vs_float {parity.precision:.3f} below the threshold {thresholds.min_precision} "
            f"({parity.device_count - parity.device_matched} of {parity.device_count} device detections not in float)"
        )
    if failures:
        pytest.fail("\n".join([*failures, f"{item}: {loss_diagnosis(result.saturated)}"]), pytrace=False)


def _no_truth_boxes(inputs: list, labelled: list, options: HilOptions) -> str:
    """Why no AP can be measured: no picture has truth under its file name, or the truth holds no box."""
    if labelled:
        return (
            f"the truth of the {len(labelled)} labelled pictures holds no box; expected a COCO bbox or a Pascal VOC "
            "<bndbox> for each face or object (a classification export labels pictures without boxes)"
        )
    named = sorted(load_truth(options.images, options.truth)) if options.images else []
    return (
        f"none of the {len(inputs)} pictures has truth under its file name: the truth names {len(named)} pictures"
        f"{' (e.g. ' + ', '.join(named[:3]) + ')' if named else ''}, the folder holds e.g. "
        f"{', '.join(given.name for given in inputs[:3])}; expected truth for these pictures' file names"
    )


@pytest.mark.hil_truth
def test_average_precision_is_within_tolerance_of_float(
    model_spec: ModelSpec,
    all_model_inputs,
    run_input,
    thresholds: ParityThresholds,
    hil_options: HilOptions,
    hil_results: TestRecord,
) -> None:
    from models.metrics import average_precision

    labelled = [given for given in all_model_inputs if given.truth is not None and not given.error]
    if not any(len(given.truth) for given in labelled):
        pytest.fail(_no_truth_boxes(all_model_inputs, labelled, hil_options), pytrace=False)
    runs = [run_input(given) for given in labelled]
    truths = [torch.from_numpy(given.truth.reshape(-1, 4)) for given in labelled]

    def ap(pick) -> float:
        found = [tuple(torch.from_numpy(a) for a in _detections(model_spec, pick(run))) for run in runs]
        return average_precision(found, truths, iou_threshold=0.5)

    float_ap = ap(lambda run: run.floats)
    device_ap = ap(lambda run: run.device)
    hil_results.metric("ap50_float", float_ap, better="higher")
    hil_results.metric("ap50_device", device_ap, threshold=float_ap - thresholds.ap_tolerance, better="higher")
    hil_results.table("AP@0.5 against the truth", [{"images": len(runs), "float": float_ap, "device": device_ap}])
    assert device_ap >= float_ap - thresholds.ap_tolerance, (
        f"ap50_device {device_ap:.4f} is more than the tolerance {thresholds.ap_tolerance} below "
        f"ap50_float {float_ap:.4f} over {len(runs)} images"
    )
