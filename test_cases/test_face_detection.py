"""Face detection on the device against the float PyTorch model: per image, the device equals the
compiler's integer reference bit for bit and finds what the float model finds; over the image set,
its AP@0.5 is within a tolerance of the float model's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from hil.dut import Dut
from hil.parity.detection_parity import compare_detections
from hil.parity.face_detections import detections, draw_detections
from hil.parity.tensor_metrics import compare_tensors, dequantise
from hil.plugin.options import HilOptions
from hil.plugin.results_fixture import TestRecord

WIDTH, HEIGHT = 320, 240
MIN_SCORE = 0.5


@dataclass(frozen=True)
class FaceRun:
    """One image through the float model, the integer reference and the device."""

    float_detections: tuple[np.ndarray, np.ndarray]
    device_detections: tuple[np.ndarray, np.ndarray]
    mismatched: dict[str, int]
    comparisons: dict
    device_label: str


def run_face_image(dut: Dut, compiled_model, float_model, image) -> FaceRun:
    quantised = compiled_model.qgraph.quantize_input(image.x)
    run = dut.infer([quantised])
    golden = compiled_model.golden(image.x)
    names = [spec.name for spec in dut.info.outputs]
    mismatched = {n: int(np.count_nonzero(d != g)) for n, d, g in zip(names, run.outputs, golden, strict=True)}
    with torch.no_grad():
        float_loc, float_conf = float_model(torch.from_numpy(image.x).permute(0, 3, 1, 2))
    device = [dequantise(o, spec.scale, spec.zero_point) for o, spec in zip(run.outputs, dut.info.outputs, strict=True)]
    comparisons = {
        name: compare_tensors(reference.numpy(), real)
        for name, reference, real in zip(names, (float_loc, float_conf), device, strict=True)
    }
    priors = float_model.prior_box()
    return FaceRun(
        detections(float_loc.numpy(), float_conf.numpy(), priors, WIDTH, HEIGHT),
        detections(device[0], device[1], priors, WIDTH, HEIGHT),
        mismatched,
        comparisons,
        run.timing.label,
    )


def first_diverging_layer(compiled_model, model_name: str, image) -> str:
    """Runs a debug build of the C the firmware was built from, layer by layer, against the reference."""
    from hil.catalog import model_sources
    from hil.compiler.debug_layers import first_layer_divergence
    from hil.compiler.host_model import HostModel

    divergence = first_layer_divergence(
        compiled_model, HostModel(model_sources(model_name), debug_layers=True), image.x
    )
    if divergence is None:
        return "the host build of the same C agrees with the reference at every layer: the difference is the target's"
    return divergence.describe()


def test_device_matches_reference_and_float(
    dut: Dut,
    compiled_model,
    float_model,
    face_image,
    face_runs: dict,
    hil_options: HilOptions,
    hil_results: TestRecord,
) -> None:
    result = run_face_image(dut, compiled_model, float_model, face_image)
    face_runs[(dut.info.model_name, face_image.name)] = (face_image.truth, result)
    parity = compare_detections(
        *result.float_detections,
        *result.device_detections,
        min_score=MIN_SCORE,
        score_margin=hil_options.score_margin,
    )
    item = face_image.name
    for name, count in result.mismatched.items():
        hil_results.metric(f"{name}_mismatched_vs_reference", count, threshold=0, passed=count == 0, item=item)
    for name, comparison in result.comparisons.items():
        passed = comparison.snr_db >= hil_options.min_snr_db
        hil_results.metric(
            f"{name}_snr_db",
            comparison.snr_db,
            "dB",
            threshold=hil_options.min_snr_db,
            passed=passed,
            better="higher",
            item=item,
        )
        hil_results.metric(f"{name}_cosine", comparison.cosine, better="higher", item=item)
        hil_results.metric(f"{name}_max_abs_error", comparison.max_abs_error, item=item)
    hil_results.metric("recall_vs_float", parity.recall, threshold=hil_options.min_recall, better="higher", item=item)
    hil_results.metric(
        "precision_vs_float", parity.precision, threshold=hil_options.min_precision, better="higher", item=item
    )
    hil_results.table(
        f"{item}: device against float",
        [{"output": n, **{k: v for k, v in c.to_dict().items() if k != "count"}} for n, c in result.comparisons.items()]
        + [
            {
                "output": "detections",
                "recall": parity.recall,
                "precision": parity.precision,
                "float": parity.reference_count,
                "device": parity.device_count,
            }
        ],
    )
    hil_results.image(
        f"{item}: truth white, float green, device red",
        draw_detections(
            face_image.grey,
            face_image.truth if face_image.truth is not None else np.zeros((0, 4)),
            result.float_detections,
            result.device_detections,
            MIN_SCORE,
        ),
    )

    failures = []
    if any(result.mismatched.values()):
        failures.append(
            f"{item}: bit_exact: the device differs from the integer reference in "
            f"{', '.join(f'{n} {c} values' for n, c in result.mismatched.items())}, threshold 0; "
            + first_diverging_layer(compiled_model, dut.info.model_name, face_image)
        )
    for name, comparison in result.comparisons.items():
        if comparison.snr_db < hil_options.min_snr_db:
            failures.append(
                f"{item}: {name}_snr_db {comparison.snr_db:.2f} dB below the threshold {hil_options.min_snr_db} dB"
            )
    if parity.recall < hil_options.min_recall:
        failures.append(
            f"{item}: recall_vs_float {parity.recall:.3f} below the threshold {hil_options.min_recall} "
            f"({parity.matched} of {parity.reference_count} float detections with score >= {MIN_SCORE} found "
            f"at score >= {MIN_SCORE - parity.score_margin:.2f})"
        )
    if parity.precision < hil_options.min_precision:
        failures.append(
            f"{item}: precision_vs_float {parity.precision:.3f} below the threshold {hil_options.min_precision} "
            f"({parity.device_count - parity.device_matched} of {parity.device_count} device detections not in float)"
        )
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def test_average_precision_is_within_tolerance_of_float(
    dut: Dut,
    compiled_model,
    float_model,
    all_face_images,
    face_runs: dict,
    hil_options: HilOptions,
    hil_results: TestRecord,
) -> None:
    from models.metrics import average_precision

    labelled = [image for image in all_face_images if image.truth is not None]
    if not labelled:
        pytest.skip("no image has ground-truth boxes (with --images, AP cannot be measured)")
    runs = []
    for image in labelled:
        key = (dut.info.model_name, image.name)
        if key not in face_runs:
            face_runs[key] = (image.truth, run_face_image(dut, compiled_model, float_model, image))
        runs.append(face_runs[key])
    truths = [torch.from_numpy(np.asarray(truth, dtype=np.float32)) for truth, _ in runs]

    def ap(pick) -> float:
        found = [tuple(torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in pick(run)) for _, run in runs]
        return average_precision(found, truths, iou_threshold=0.5)

    float_ap = ap(lambda run: run.float_detections)
    device_ap = ap(lambda run: run.device_detections)
    hil_results.metric("ap50_float", float_ap, better="higher")
    hil_results.metric("ap50_device", device_ap, threshold=float_ap - hil_options.ap_tolerance, better="higher")
    hil_results.table("AP@0.5 over the image set", [{"images": len(runs), "float": float_ap, "device": device_ap}])
    assert device_ap >= float_ap - hil_options.ap_tolerance, (
        f"ap50_device {device_ap:.4f} is more than the tolerance {hil_options.ap_tolerance} below "
        f"ap50_float {float_ap:.4f} over {len(runs)} images"
    )
