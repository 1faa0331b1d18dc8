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
    # A layer is timed to one SysTick tick (40 instructions): the concatenations of rows the planner laid out in
    # place take less, so they may read 0; every layer with MACs takes thousands of ticks.
    assert all(r["instructions"] > 0 for r in result["layers"] if r["macs"])
    assert all(r["instructions"] >= 0 for r in result["layers"])
    instructions = [r["instructions"] for r in result["layers"]]
    assert instructions == sorted(instructions, reverse=True)
    # The layers add up to the whole model_run, less the hook's own calls (a few dozen instructions each).
    gap = result["instructions_whole_run"] - result["instructions"]
    assert 0 <= gap <= 200 * len(compiled.steps)
    assert result["layers"][0]["op"].startswith("rnnpool")
    assert sum(r["macs"] for r in result["layers"]) == compiled.qgraph.macs


def test_cycle_model_weights_a_traced_loop() -> None:
    """hil.bench.cycles on a hand-written QEMU in_asm/exec log: a two-iteration loop of a load, a SMLAD and a
    taken-then-not-taken branch, inside layer 0 (between the hook's first and second entry)."""
    from hil.bench.cycles import _count

    log = [
        "0x00000100:  b510       push     {r4, lr}\n",
        "Trace 0: 0x7f0000000100 [00000000/00000100/00000000/ff000000] hil_profile_layer\n",
        "0x00000200:  f851 3b04  ldr.w    r3, [r1], #4\n",
        "0x00000204:  fb23 0004  smlad    r0, r3, r4, r0\n",
        "0x00000208:  d1fa       bne      #0x200\n",
        "Trace 0: 0x7f0000000200 [00000000/00000200/00000000/ff000000] kernel\n",
        "Trace 0: 0x7f0000000200 [00000000/00000200/00000000/ff000000] kernel\n",
        "Trace 0: 0x7f0000000300 [00000000/0000020a/00000000/ff000000] kernel\n",
        "Trace 0: 0x7f0000000100 [00000000/00000100/00000000/ff000000] hil_profile_layer\n",
    ]
    mix = _count(iter(log), 0, 0x100, 0x110, 10**6)
    # 2 x (load 2 + SMLAD 1) + taken branch 3 + not-taken branch 1; the block at 0x20a was never translated
    assert mix.instructions == 6
    assert mix.cycles == 2 * 3 + 3 + 1
    assert mix.classes == {"load": 2, "multiply/MAC": 2, "branch taken": 1, "branch not taken": 1}


# It compiles both face models as the catalog does; when it is the first test of its worker to need them, on a
# fresh clone with the other worker compiling beside it, that took 416 s (2026-12-06), near the ini's 600.
@pytest.mark.timeout(1200)
def test_the_cycle_estimate_samples_every_layer_with_macs_of_the_catalog_models() -> None:
    """hil.bench.cycles samples a layer's instructions in the source files KERNEL_FILES names for its op; an op it
    does not name is left out of the estimate (the streamed front, 78 % of the M4's instructions, was until
    2026-12-05). Data moves have no MACs and are not sampled."""
    from hil.bench.cycles import KERNEL_FILES
    from hil.catalog import compile_spec, resolve_model
    from hil.host_build.compiler import KERNELS_DIR

    for name in ("rnnpool_face_m4", "rnnpool_face_qvga"):
        steps = compile_spec(resolve_model(name)).steps
        ops = {s.nodes[0].kernel if s.kind == "node" else s.kind for s in steps if any(n.macs for n in s.nodes)}
        assert ops <= set(KERNEL_FILES), (name, ops - set(KERNEL_FILES))
    files = {f for names in KERNEL_FILES.values() for f in names} - {"model.c"}
    assert all((KERNELS_DIR / f).is_file() for f in files), sorted(f for f in files if not (KERNELS_DIR / f).is_file())


def test_profile_compiles_the_all_int8_build_on_request(tmp_path) -> None:
    """--bit-widths int8 profiles the build the catalog's latency budgets and width_cost's rates are measured
    against: no activation is int16 there, while the model's own choice widens RNNPool's output and the heads."""
    from hil.bench.profile import compile_for_profile, main

    int8, _ = compile_for_profile("m4", tmp_path / "int8", bit_widths="int8")
    assert {t.dtype for t in int8.qgraph.tensors.values()} == {"int8"} and int8.bit_widths is None
    searched, _ = compile_for_profile("m4", tmp_path / "search")
    assert "int16" in {t.dtype for t in searched.qgraph.tensors.values()} and searched.bit_widths.choices
    with pytest.raises(SystemExit):
        main(["--model", "m4", "--bit-widths", "int4"])


USER_MODEL = '''
import torch
from torch import nn


class FrameTagger(nn.Module):
    """Conv1d over MFCC frames, then LayerNorm and a Linear per frame."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm, self.fc = nn.Conv1d(13, 16, 3, padding=1), nn.LayerNorm(16), nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(self.norm(torch.relu(self.conv(x)).transpose(1, 2)))


def build():
    torch.manual_seed(0)
    return FrameTagger().eval()
'''


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
def test_profile_takes_any_model_hil_run_takes(tmp_path, capsys) -> None:
    """`hil profile --model nets.py:build --input-shape ...` profiles a user's model on its first calibration input
    (before, only the two face models): every layer timed, the device equal to the golden model, layer_norm_s8
    among them. A model it cannot resolve fails naming it."""
    from hil.bench.profile import main
    from hil.errors import HilError

    (tmp_path / "nets.py").write_text(USER_MODEL)
    main(["--model", f"{tmp_path / 'nets.py'}:build", "--input-shape", "1,13,20", "--workdir", str(tmp_path / "w")])
    printed = capsys.readouterr().out
    assert "device == golden: True" in printed
    assert all(op in printed for op in ("layer_norm_s8", "flatten"))
    with pytest.raises(HilError, match=r"missing\.py"):
        main(["--model", f"{tmp_path / 'missing.py'}:build", "--input-shape", "1,13,20"])
