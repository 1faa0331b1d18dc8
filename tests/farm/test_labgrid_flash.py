"""A farm run on a labgrid place that carries a debugger: the run flashes the image through labgrid's
OpenOCDDriver, then talks to the firmware over the place's exported serial port. Real on loopback: labgrid's
coordinator, its exporter, labgrid-client, and an sshd standing for the exporter's host, over which labgrid
runs `openocd`.

Two stand-ins, for what this machine has not got: `openocd` on the SSH host is a recording script (no probe),
and the exporter publishes its USBDebugger without udev (no USB bus; tests/support/labgrid_debugger_exporter).
The "board" behind the exported serial port is QEMU already running the image the run builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hil.farm.labgrid_place import LabgridPlace
from hil.openocd.commands import program_commands
from tests.support.labgrid_lab import LABGRID_MISSING, SKIP_REASON, conv_model_on_qemu, create_place, labgrid_lab
from tests.support.ssh_host import SSH_MISSING, SSH_SKIP_REASON, ssh_host

pytestmark = [
    pytest.mark.skipif(LABGRID_MISSING, reason=SKIP_REASON),
    pytest.mark.skipif(SSH_MISSING, reason=SSH_SKIP_REASON),
]

USB_PATH = "1-1.4"
CONFIG = "board/st_nucleo_f4.cfg"
RECORDING_OPENOCD = """#!{python}
import json, sys
with open({record!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""
PARITY_TEST = """
import numpy as np
from hil import conv_test_model

def test_parity_on_the_flashed_board(dut):
    image = np.random.default_rng(3).integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
    assert (dut.infer([image]).outputs[0] == conv_test_model.reference(image)).all()
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(coordinator, place, the image's ELF, the openocd record, the PATH reaching the SSH host)."""
    workdir = tmp_path_factory.mktemp("labgrid-debugger")
    with conv_model_on_qemu(workdir) as (image, port), ssh_host(workdir / "ssh") as host:
        record = workdir / "openocd-calls.jsonl"
        openocd = host.remote_bin / "openocd"
        openocd.write_text(RECORDING_OPENOCD.format(python=sys.executable, record=str(record)))
        openocd.chmod(0o755)
        (workdir / "lab").mkdir()
        with labgrid_lab(workdir / "lab", port, debugger_usb_path=USB_PATH) as address:
            create_place(address, "debug-place")
            path = f"{host.client_bin}{os.pathsep}{os.environ['PATH']}"
            yield address, "debug-place", image.elf, record, path


def test_a_farm_run_flashes_through_labgrids_openocd_driver_then_talks_over_the_port(tmp_path, lab):
    address, place, elf, record, path = lab
    farm = tmp_path / "farm.yaml"
    farm.write_text(
        "boards:\n  - name: lab-debug\n    kind: mps2-an386\n    emulate: qemu\n"
        f"    labgrid_place: {place}\n    openocd_config: {CONFIG}\n"
    )
    (tmp_path / "test_flashed.py").write_text(PARITY_TEST)
    command = [
        *(sys.executable, "-m", "pytest", str(tmp_path / "test_flashed.py"), "-p", "no:cacheprovider", "-q"),
        *("--hil-farm", str(farm), "--board", "lab-debug", "--hil-labgrid-coordinator", address),
        *("--hil-lock-dir", str(tmp_path / "locks"), "--rootdir", str(tmp_path)),
    ]
    run = subprocess.run(command, env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    expected = ["--command", f'adapter usb location "{USB_PATH}"', "--file", CONFIG, "--command"]
    assert calls == [[*expected, *program_commands(elf.resolve())]]
    assert "acquired: None" in LabgridPlace(place, address).show(), "the run did not release the place"
