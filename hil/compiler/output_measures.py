"""How far quantised outputs are from the float ones, as SNRs (dB) the compiler's searches raise and the benches print.

"outputs" measures each output over all its values. "faces" measures a face detector where its detections are read
(models/output_change.py): loc at the anchors the float model calls faces, and conf's logits at every anchor, since
every anchor's score is thresholded (the face probability is recorded beside them). Over every anchor, a detector's
loc SNR is dominated by background anchors whose loc is never decoded, so a search on it widens what moves no box.
The face probability is not an objective: on the QVGA it ranks the scores' int16 widening as a loss (-0.3 dB, worst
of 3 calibration images), and with its scores left int8 3 test images of 300 lose a face at the suite's 0.05 score
margin, 2 with them int16 (python -m hil.compiler.bench_accuracy --model qvga --images 300, 2026-12-05).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from hil.compiler import golden
from hil.errors import CompileError

MEASURES = ("outputs", "faces")
FACE_OBJECTIVE = ("loc_faces", "conf")
FACE_SNRS = (*FACE_OBJECTIVE, "face_probability")

# (float outputs, quantised outputs), both in graph output order -> {name: SNR dB, or None where it has no signal}
OutputMeasure = Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], dict[str, float | None]]


def face_output_snr(reference: Sequence[np.ndarray], quantized: Sequence[np.ndarray]) -> dict:
    """SNR (dB) of quantised [loc, conf] against the float ones: over every anchor, and at the faces
    (models.output_change; loc_faces is None when no anchor reaches the face probability)."""
    from models.output_change import FACE_PROBABILITY, face_output_change

    tensors = [torch.from_numpy(np.asarray(a, np.float64)) for a in (*quantized, *reference)]
    loc_ratio, probability_ratio = face_output_change(tuple(tensors[:2]), tuple(tensors[2:]))
    face_anchors = int((tensors[3].softmax(-1)[..., 1] >= FACE_PROBABILITY).sum())
    to_db = lambda ratio: float("inf") if ratio == 0 else float(-10 * np.log10(float(ratio)))  # noqa: E731
    return {
        "loc": golden.snr_db(reference[0], quantized[0]),
        "conf": golden.snr_db(reference[1], quantized[1]),
        "face_anchors": face_anchors,
        "loc_faces": to_db(loc_ratio) if face_anchors else None,
        "face_probability": to_db(probability_ratio),
    }


def measure_for(
    name: str,
    outputs: Sequence[str],
    output_names: Sequence[str] | None,
    objective_outputs: Sequence[str] | None = None,
) -> tuple[OutputMeasure, dict[str, str]]:
    """The measure called name for a graph whose output tensors are outputs (named output_names, default the
    tensors' own names), and the objective a search raises: {SNR of the measure: the name records give it}.
    'outputs' gives each output's SNR under its name and raises those called objective_outputs (empty or None:
    every output); 'faces' raises its own (FACE_OBJECTIVE) and refuses objective_outputs."""
    names = list(output_names or outputs)
    if name == "outputs":
        unknown = [n for n in objective_outputs or () if n not in names]
        if unknown:
            raise CompileError(f"objective names outputs {unknown}; the model's outputs are {names}")
        return lambda reference, quantized: {
            n: golden.snr_db(r, q) for n, r, q in zip(names, reference, quantized, strict=True)
        }, {n: n for n in objective_outputs or names}
    if name != "faces":
        raise CompileError(f"unknown output measure {name!r}: expected one of {', '.join(MEASURES)}")
    if objective_outputs:
        raise CompileError(
            f"objective names outputs {list(objective_outputs)}; the 'faces' measure raises its own "
            f"({', '.join(FACE_OBJECTIVE)}): leave objective_outputs empty or measure 'outputs'"
        )
    if "loc" not in names or "conf" not in names:
        raise CompileError(
            f"the 'faces' output measure reads a face detector's loc and conf outputs; this model's outputs are "
            f"{', '.join(names)}"
        )
    loc, conf = names.index("loc"), names.index("conf")

    def faces(reference: Sequence[np.ndarray], quantized: Sequence[np.ndarray]) -> dict[str, float | None]:
        snr = face_output_snr([reference[loc], reference[conf]], [quantized[loc], quantized[conf]])
        return {k: snr[k] for k in FACE_SNRS}

    return faces, {k: k for k in FACE_OBJECTIVE}
