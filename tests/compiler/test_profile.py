"""The per-layer profile (hil.bench.profile) of the compiled M4 model under QEMU: real firmware, real SysTick."""

from __future__ import annotations

import shutil

import pytest

from hil.bench.profile import profile_compiled


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
def test_profile_accounts_for_every_layer(compiled_faces, calibration_inputs, tmp_path) -> None:
    compiled = compiled_faces["m4"]
    result = profile_compiled(compiled, calibration_inputs[2], tmp_path)
    assert result["firmware_equals_golden"]
    assert len(result["layers"]) == len(compiled.steps)
    assert all(r["instructions"] > 0 for r in result["layers"])
    instructions = [r["instructions"] for r in result["layers"]]
    assert instructions == sorted(instructions, reverse=True)
    # The layers add up to the whole model_run, less the hook's own calls (a few dozen instructions each).
    gap = result["instructions_whole_run"] - result["instructions"]
    assert 0 <= gap <= 200 * len(compiled.steps)
    assert result["layers"][0]["op"].startswith("rnnpool")
    assert sum(r["macs"] for r in result["layers"]) == compiled.qgraph.macs
