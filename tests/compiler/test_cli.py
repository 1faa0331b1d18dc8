"""`hil compile` writes the C and a per-layer summary; the catalog builds the face models from the compiler."""

from __future__ import annotations

import json

from hil.cli import main
from hil.model_catalog import GENERATORS


def test_compile_command_json(tmp_path, capsys) -> None:
    assert main(["compile", "--model", "rnnpool_face_m4", "-o", str(tmp_path / "m4"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (tmp_path / "m4" / "model.c").is_file() and (tmp_path / "m4" / "model.h").is_file()
    assert result["arena_bytes"] >= result["arena_lower_bound_bytes"] > 0
    assert [o["shape"] for o in result["outputs"]] == [[1, 3000, 4], [1, 3000, 2]]
    layer = result["layers"][0]
    assert set(layer) >= {"shape", "scale", "bits", "macs", "arena_offset", "flash_bytes"}
    assert sum(r["macs"] for r in result["layers"]) == result["macs"]


def test_catalog_has_face_models() -> None:
    assert {"rnnpool_face_m4", "rnnpool_face_qvga"} <= set(GENERATORS)
