"""Runs across a farm of QEMU boards with pytest-xdist: one worker per board at a time (from the
lock log), a board that dies mid-run is reported while the run goes on, quarantined tests skip."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from hil.locks.board_lock import overlapping_holds, read_lock_log

pytest_plugins = ["pytester"]

FARM = """boards:
  - name: qemu-a
    kind: mps2-an386
    emulate: qemu
  - name: qemu-b
    kind: mps2-an386
    emulate: qemu
  - name: qemu-c
    kind: mps2-an386
    emulate: qemu
    timeout_multiplier: 2.0
"""

PARITY_TESTS = """
import numpy as np
import pytest
from hil import conv_test_model

@pytest.mark.parametrize("seed", range(6))
def test_parity(dut, hil_results, seed):
    image = np.random.default_rng(seed).integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
    run = dut.infer([image])
    hil_results.metric("mismatched", int((run.outputs[0] != conv_test_model.reference(image)).sum()))
    assert (run.outputs[0] == conv_test_model.reference(image)).all()
"""

DYING_BOARD_TESTS = """
import numpy as np
from hil import conv_test_model

IMAGE = np.zeros(conv_test_model.INPUT.shape, dtype=np.int8)

def test_1_before(dut, hil_results):
    dut.infer([IMAGE])
    hil_results.metric("kept_before_the_crash", 1)

def test_2_board_dies(dut):
    dut.target.process.process.kill()
    dut.target.process.process.wait(10)

def test_3_after(dut):
    dut.infer([IMAGE])

def test_4_other_work():
    assert True

def test_5_quarantined():
    assert False, "known broken"
"""


def _farm_args(pytester: pytest.Pytester, tmp_path) -> list[str]:
    farm = tmp_path / "farm.yaml"
    farm.write_text(FARM)
    return [
        "--hil-farm",
        str(farm),
        "--board",
        "mps2-an386",
        "--hil-lock-dir",
        str(tmp_path / "locks"),
        "-p",
        "no:cacheprovider",
        "--hil-run-timeout",
        "60",
    ]


def test_three_workers_share_three_boards_and_never_overlap(pytester, tmp_path):
    pytester.makepyfile(test_parity=PARITY_TESTS)
    result = pytester.runpytest_subprocess(*_farm_args(pytester, tmp_path), "-n", "3", "--hil-out", str(tmp_path / "o"))
    result.assert_outcomes(passed=6)
    events = read_lock_log(tmp_path / "locks")
    assert overlapping_holds(events) == []
    acquired = [e for e in events if e["event"] == "acquire"]
    assert {e["owner"] for e in acquired} <= {"gw0", "gw1", "gw2"}
    assert len({e["board"] for e in acquired}) >= 2, f"the workers did not spread over the farm: {acquired}"
    out = tmp_path / "o"
    document = json.loads((out / "results.json").read_text())
    assert any(key.startswith("board_gw") for key in document["metadata"])
    # Every test's row exactly once in every results file, though three workers wrote them.
    expected = [f"test_parity.py::test_parity[{seed}]" for seed in range(6)]
    assert sorted(row["test"].rsplit("/", 1)[-1] for row in document["rows"]) == expected
    assert document["outcome"]["passed"] == 6
    assert sorted(t.rsplit("/", 1)[-1] for t in pd.read_csv(out / "results.csv")["test"]) == expected
    jsonl = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(row["test"].rsplit("/", 1)[-1] for row in jsonl if "test" in row) == expected
    cases = [f"{c.get('name')}" for c in ET.parse(out / "junit.xml").getroot().iter("testcase")]
    assert sorted(cases) == [f"test_parity[{seed}]" for seed in range(6)]
    page = (out / "index.html").read_text()
    assert all(page.count(f"test_parity[{seed}]") >= 1 for seed in range(6))


def test_an_emulated_board_that_dies_is_restarted_said_and_the_later_tests_pass(pytester, tmp_path):
    pytester.makepyfile(test_dying=DYING_BOARD_TESTS)
    quarantine = tmp_path / "quarantine.txt"
    quarantine.write_text("# known broken\ntest_5_quarantined\n")
    out = tmp_path / "o"
    result = pytester.runpytest_subprocess(
        *_farm_args(pytester, tmp_path), "--hil-out", str(out), "--hil-quarantine", str(quarantine), "-rs"
    )
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["*test_3_after*", "*QEMU (mps2-an386) exited with status -9: restarted it (1 of 2)*"])
    result.stdout.fnmatch_lines(["*quarantined in*"])
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert any(row.get("metric") == "kept_before_the_crash" for row in rows)
    assert overlapping_holds(read_lock_log(tmp_path / "locks")) == []


FRESH_MODEL = """
import numpy as np
import torch
from torch import nn
from hil.catalog import ModelSpec


def tiny():
    torch.manual_seed(SEED)
    return ModelSpec(
        name="farm_tiny",
        build=lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU()).eval(),
        input_shape=(1, 1, 8, 8),
        output_names=("map",),
        calibration=lambda n: np.random.default_rng(1).uniform(0, 1, (n, 1, 8, 8)).astype(np.float32),
        calibration_count=4,
    )
"""


def test_a_farm_worker_says_what_its_compile_does(pytester, tmp_path):
    """A farm run compiles in the worker that holds a board (the image is known only then): its compile stages
    come on the run's stderr after the worker's name. Weights seeded afresh, so no earlier run's compile is in the
    store."""
    model = tmp_path / "fresh_model.py"
    model.write_text(FRESH_MODEL.replace("SEED", str(int.from_bytes(os.urandom(4)))))
    pytester.makepyfile(test_answers="def test_answers(dut):\n    assert dut.info.outputs\n")
    result = pytester.runpytest_subprocess(
        *_farm_args(pytester, tmp_path), "--model", f"{model}:tiny", "-n", "2", "--hil-out", str(tmp_path / "o")
    )
    result.assert_outcomes(passed=1)
    result.stderr.fnmatch_lines(
        [
            "[[]gw?[]] hil: farm_tiny: no compile of these weights, calibration and compiler sources yet",
            "[[]gw?[]] hil: farm_tiny: 1 layer captured; calibrating on 4 inputs",
            "[[]gw?[]] hil: farm_tiny: compiled in * s, arena * B",
        ]
    )
