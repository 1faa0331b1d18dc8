"""`hil compile` writes the C and a per-layer summary; the catalog builds the face models from the compiler."""

from __future__ import annotations

import json

from hil.catalog import CATALOG
from hil.cli import main
from hil.exit_codes import USAGE_ERROR

CONV_KERNELS = (
    "conv2d_s8",
    "conv2d_s8_w16",
    "conv2d_a16",
    "conv2d_a16_w16",
    "depthwise_conv2d_s8",
    "pointwise_conv2d_s8",
)


def test_compile_command_json(tmp_path, capsys) -> None:
    assert main(["compile", "--model", "rnnpool_face_m4", "-o", str(tmp_path / "m4"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (tmp_path / "m4" / "model.c").is_file() and (tmp_path / "m4" / "model.h").is_file()
    assert result["arena_bytes"] >= result["arena_lower_bound_bytes"] > 0
    assert [o["shape"] for o in result["outputs"]] == [[1, 3000, 4], [1, 3000, 2]]
    layer = result["layers"][0]
    assert set(layer) >= {"shape", "scale", "bits", "macs", "arena_offset", "flash_bytes"}
    assert sum(r["macs"] for r in result["layers"]) == result["macs"]
    # every scale is recorded: the weight exponent and output shift of each convolution's every output channel
    for row in result["layers"]:
        # mbconv: expand, depthwise, project; l2norm_conv: the head the L2Norm streams into; the M4's streamed
        # front: the stem and mob.0's three
        convolutions = {"mbconv": 3, "l2norm_conv": 1, "front": 4}.get(row["op"], int(row["op"] in CONV_KERNELS))
        assert len(row["convolutions"]) == convolutions, row["name"]
        for scales in row["convolutions"].values():
            assert len(scales["weight_exponents"]) == len(scales["out_shift"]) > 0
    exponents = [c["weight_exponents"] for row in result["layers"] for c in row["convolutions"].values()]
    assert any(len(set(e)) > 1 for e in exponents)
    # the live set of every step, the largest being the plan's lower bound; RAM broken down against the budget
    live = result["live_sets"]
    assert [s["step"] for s in live] == [r["layer"] for r in result["layers"]]
    assert max(s["bytes"] for s in live) == result["arena_lower_bound_bytes"]
    assert all(s["bytes"] == sum(b["bytes"] for b in s["buffers"]) for s in live)
    ram = result["ram"]
    parts = ("arena_bytes", "stack_reservation_bytes", "link_buffer_bytes", "other_static_bytes")
    assert ram["arena_bytes"] == result["arena_bytes"] and ram["total_bytes"] == sum(ram[p] for p in parts)
    assert ram["budget_bytes"] == 262_144 and ram["model_budget_bytes"] == 96 * 1024


def test_compile_command_table(tmp_path, capsys) -> None:
    assert main(["compile", "--model", "rnnpool_face_m4", "-o", str(tmp_path / "m4")]) == 0
    out = capsys.readouterr().out
    assert "largest live sets" in out and " out [t" in out and "stack reservation" in out
    assert "budget 262,144 B (the board's), 98,304 B (the model's)" in out


def test_catalog_has_face_models() -> None:
    assert {"rnnpool_face_m4", "rnnpool_face_qvga"} <= set(CATALOG)
    assert all(CATALOG[name].task == "detection" for name in ("rnnpool_face_m4", "rnnpool_face_qvga"))


def test_compile_command_reports_its_progress_on_stderr(tmp_path, capsys, monkeypatch) -> None:
    """A searched face model takes minutes to compile: each stage and each choice a search takes is said on stderr
    while it works (vww, not ours, where both searches take some), and stdout keeps the JSON alone. An empty store,
    so the compile happens."""
    monkeypatch.setattr("hil.catalog.compile_cache.STORE", tmp_path / "store")
    argv = ["compile", "--model", "examples/vww.py:build", "--bit-widths", "search", "--exponents", "search"]
    assert main([*argv, "-o", str(tmp_path / "json"), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    said = [line.removeprefix("hil compile: ") for line in captured.err.splitlines()]
    assert said[:3] == [
        "vww: no compile of these weights, calibration and compiler sources yet",
        "vww: 31 layers captured; calibrating on 8 inputs",
        "vww: exponent search on 8 inputs",
    ]
    exponents = [line.split(" took ", 1)[1] for line in said if line.startswith("exponent search took ")]
    widths = [line.split(" took ", 1)[1] for line in said if line.startswith("bit-width search took ")]
    assert len(exponents) == len(result["exponents"]["choices"]) > 0
    assert len(widths) == len(result["bit_widths"]["choices"]) > 0
    assert f"vww: {result['bit_widths']['reason']}" in said
    assert said[-1].startswith("vww: compiled in ") and said[-1].endswith(f"arena {result['arena_bytes']:,} B")

    assert main([*argv, "-o", str(tmp_path / "table")]) == 0
    captured = capsys.readouterr()
    assert captured.err == "", "compiled already: nothing to say"
    listed = [line.strip() for line in captured.out.splitlines() if line.startswith("  ")]
    assert set(exponents + widths) <= set(listed), "the table lists each choice as the progress said it"


def test_a_model_the_compiler_cannot_take_gets_its_error_alone(tmp_path, capsys, monkeypatch) -> None:
    """Capture refuses an op before the compile says it starts: stderr is the one error line, not a "no compile
    ... yet" line promising work that never comes. Fresh weights and an empty store, so nothing is cached."""
    monkeypatch.setattr("hil.catalog.compile_cache.STORE", tmp_path / "store")
    nets = tmp_path / "groupnorm_nets.py"
    nets.write_text(
        "import numpy as np\nfrom torch import nn\nfrom hil.catalog import ModelSpec\n\n\n"
        "def build():\n"
        "    return ModelSpec(name='gn', build=lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.GroupNorm(1, 2)).eval(),\n"
        "                     input_shape=(1, 1, 8, 8), output_names=('y',))\n"
    )
    assert main(["compile", "--model", f"{nets}:build", "-o", str(tmp_path / "out")]) == USAGE_ERROR
    said = capsys.readouterr().err.splitlines()
    refused = "hil compile: error: module '1' of type GroupNorm is not supported"
    assert len(said) == 1 and said[0].startswith(refused), said
