"""The activation exponent search (hil/compiler/exponent_search.py): on the M4 face model it moves tensors one
exponent finer only where the golden model's SNR where detections are read rises, the QVGA's gain holds on held-out
images, host C computes the searched model bit for bit, and `hil compile` records the choices."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from hil.catalog import compile_spec, resolve_model
from hil.catalog.entries import FACE_CALIBRATION_IMAGES
from hil.cli import main
from hil.compiler import exponent_search
from hil.compiler.calibrate import synthetic_images
from hil.compiler.float_executor import outputs as float_outputs
from hil.compiler.host_model import HostModel
from hil.compiler.output_measures import FACE_OBJECTIVE, face_output_snr
from hil.compiler.pipeline import compile_model
from hil.compiler.quantize import exponent_at_width
from hil.errors import CompileError


@pytest.fixture(scope="module")
def searched_m4():
    """The catalog's M4 compile: exponents searched on its loc at the face anchors and its scores' SNR over its
    calibration images."""
    return compile_spec(resolve_model("rnnpool_face_m4"))


@pytest.fixture(scope="module")
def calibrated_m4(tmp_path_factory):
    """The same with calibrated exponents, all int8: the exponents the search starts from."""
    spec = replace(resolve_model("rnnpool_face_m4"), exponents="calibrated", bit_widths="int8")
    return compile_spec(spec, directory=tmp_path_factory.mktemp("m4_calibrated"))


def _at_width(compiled, tensor: str, int8_exponent: int) -> int:
    """The exponent tensor has in compiled for an int8 exponent: the bit-width search may have widened it."""
    return exponent_at_width(int8_exponent, np.dtype(compiled.qgraph.tensors[tensor].dtype).itemsize * 8)


def _face_snrs(compiled, x) -> list[float]:
    """The search's objective on x: loc at the face anchors (when there is one) and conf."""
    q = compiled.qgraph
    snr = face_output_snr(
        float_outputs(compiled.graph, [x]),
        [q.dequantize(t, v) for t, v in zip(q.outputs, compiled.golden(x), strict=True)],
    )
    return [snr[k] for k in FACE_OBJECTIVE if snr[k] is not None]


def test_the_search_moves_tensors_finer_where_the_face_snr_rises(searched_m4, calibrated_m4) -> None:
    record = searched_m4.exponents
    calibrated = calibrated_m4.qgraph.tensors
    assert calibrated_m4.exponents is None
    assert (
        record.objective_outputs == list(FACE_OBJECTIVE) and record.inputs == FACE_CALIBRATION_IMAGES and record.choices
    )
    assert record.snr_db >= record.snr_db_calibrated + exponent_search.MIN_GAIN_DB * len(record.choices)
    for choice in record.choices:
        assert choice.snr_gain_db >= exponent_search.MIN_GAIN_DB
        assert calibrated[choice.tensor].exponent == choice.calibrated_exponent == choice.exponent + 1
        assert searched_m4.qgraph.tensors[choice.tensor].exponent == _at_width(
            searched_m4, choice.tensor, choice.exponent
        )
    untouched = {t for t in calibrated if t not in {c.tensor for c in record.choices}}
    searched = searched_m4.qgraph.tensors
    moved = [t for t in untouched if searched[t].exponent != _at_width(searched_m4, t, calibrated[t].exponent)]
    assert len(moved) <= len(record.choices)  # only data moves sharing a chosen tensor's grid follow it


def test_the_gain_holds_on_held_out_images(tmp_path_factory) -> None:
    """The exponent search's own gain, on all-int8 builds of the QVGA (the bit-width search after it would widen
    other tensors from each start, at ten times the compile time and within 600 s only on an idle machine): the
    objective's mean SNR on the first five test-split images 27.1 -> 28.6 dB (2026-12-06; the catalog's builds, widths
    searched, read 31.6 -> 32.5). The M4's does not hold (+0.2 dB at int8; -0.1 dB on 20 test images with its widths
    searched; its AP and margins in the README), so it is not asserted there."""
    spec = replace(resolve_model("rnnpool_face_qvga"), bit_widths="int8")
    searched, calibrated = (
        compile_spec(replace(spec, exponents=mode), directory=tmp_path_factory.mktemp(f"qvga_int8_{mode}"))
        for mode in ("search", "calibrated")
    )
    assert searched.exponents.choices and calibrated.exponents is None
    held_out = synthetic_images(5, "test")
    gained = np.mean([snr for x in held_out for snr in _face_snrs(searched, x)])
    assert gained > np.mean([snr for x in held_out for snr in _face_snrs(calibrated, x)]) + 0.75


def test_host_c_computes_the_searched_model_bit_for_bit(searched_m4, calibration_inputs, tmp_path) -> None:
    """The catalog's compile: exponents searched and the boxes and scores int16 (their heads through conv2d_a16, the
    data moves' int16 copies and channel max)."""
    assert [s.dtype for s in searched_m4.emitted.sources.outputs] == ["int16", "int16"]
    x = calibration_inputs[2]
    q = searched_m4.qgraph
    host = HostModel(searched_m4.emitted.sources, build_root=tmp_path).run([q.quantize_input(x)])
    for got, expected in zip(host, searched_m4.golden(x), strict=True):
        assert (got == expected).all()


def test_an_objective_naming_no_output_fails_in_one_line(face_graphs, calibration_inputs, tmp_path) -> None:
    model, _ = face_graphs["m4"]
    with pytest.raises(CompileError, match=r"^objective names outputs \['scores'\]; .* \['loc', 'conf'\]$"):
        compile_model(
            model, torch.zeros(1, 1, 240, 320), calibration_inputs[:1], tmp_path, "m4", ["loc", "conf"],
            exponents="search", objective_outputs=["scores"],
        )  # fmt: skip


def test_compile_records_the_exponents(tmp_path, capsys) -> None:
    """The keyword-spotting example searched over every output, and the calibrated default."""
    model = "examples/kws_dscnn.py:build"
    assert main(["compile", "--model", model, "-o", str(tmp_path / "calibrated"), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["exponents"] == {"mode": "calibrated", "choices": []}
    args = ["compile", "--model", model, "-o", str(tmp_path / "search"), "--exponents", "search", "--json"]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out)["exponents"]
    assert record["mode"] == "search" and record["objective_outputs"] == ["probabilities"]
    assert record["snr_db"] >= record["snr_db_calibrated"]
    assert all(c["exponent"] == c["calibrated_exponent"] - 1 for c in record["choices"])
