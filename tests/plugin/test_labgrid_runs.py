"""A pytest run through labgrid, for real on loopback: a QEMU board's UART is exported by a
labgrid exporter, the farm file names the place, the run acquires it, runs, and releases it; a
second run wanting the same place waits until the first has released it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hil.farm.labgrid_place import LabgridPlace
from tests.support.labgrid_lab import LABGRID_MISSING, SKIP_REASON, conv_model_on_qemu, create_place, labgrid_lab

pytestmark = pytest.mark.skipif(LABGRID_MISSING, reason=SKIP_REASON)

TIMED_TEST = """
import os
import time
import numpy as np
from hil import conv_test_model

def test_parity_through_labgrid(dut):
    start = time.time()
    image = np.random.default_rng(1).integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
    assert (dut.infer([image]).outputs[0] == conv_test_model.reference(image)).all()
    time.sleep(float(os.environ["HOLD_S"]))
    with open(os.environ["TIMES"], "a") as f:
        f.write(f"{start} {time.time()}\\n")
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(coordinator address, place name) exporting the UART of a QEMU that runs the test-model image."""
    workdir = tmp_path_factory.mktemp("labgrid-qemu")
    with conv_model_on_qemu(workdir) as (_, port), labgrid_lab(workdir, port) as address:
        create_place(address, "qemu-place")
        yield address, "qemu-place"


def _run(tmp_path, lab, name: str, hold_s: float) -> subprocess.Popen:
    address, place = lab
    farm = tmp_path / "farm.yaml"
    farm.write_text(
        f"boards:\n  - name: lab-qemu\n    kind: mps2-an386\n    emulate: qemu\n    labgrid_place: {place}\n"
    )
    (tmp_path / "test_through_labgrid.py").write_text(TIMED_TEST)
    env = {**os.environ, "HOLD_S": str(hold_s), "TIMES": str(tmp_path / f"{name}.times")}
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(tmp_path / "test_through_labgrid.py"),
        "-p",
        "no:cacheprovider",
        "-q",
        "--hil-farm",
        str(farm),
        "--board",
        "lab-qemu",
        "--hil-labgrid-coordinator",
        address,
        "--hil-lock-dir",
        str(tmp_path / f"locks-{name}"),
        "--rootdir",
        str(tmp_path),
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_run_acquires_the_place_runs_and_releases_it(tmp_path, lab):
    run = _run(tmp_path, lab, "only", 0)
    output, _ = run.communicate(timeout=300)
    assert run.returncode == 0, output
    assert "1 passed" in output
    shown = LabgridPlace(lab[1], lab[0]).show()
    assert "acquired: None" in shown, f"the run did not release the place:\n{shown}"


def test_a_second_run_gets_the_place_only_after_the_first_released_it(tmp_path, lab):
    first = _run(tmp_path, lab, "first", 6)
    deadline = time.monotonic() + 120
    while "acquired: None" in LabgridPlace(lab[1], lab[0]).show():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0]
        time.sleep(0.2)
    second = _run(tmp_path, lab, "second", 0)
    first_output, _ = first.communicate(timeout=300)
    second_output, _ = second.communicate(timeout=300)
    assert first.returncode == 0, first_output
    assert second.returncode == 0, second_output
    _, first_end = map(float, (tmp_path / "first.times").read_text().split())
    second_start, _ = map(float, (tmp_path / "second.times").read_text().split())
    assert second_start >= first_end, "the second run used the board while the first still held it"
