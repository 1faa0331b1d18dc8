"""The plugin's options: every ini setting is read into the run's options, the plugin installs beside
one that owns `--port` and `--baud`, and `hil --version` answers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import hil
from hil.plugin.options import _OPTIONS

pytest_plugins = ["pytester"]

# ini setting -> (value written, HilOptions field, value read back as JSON)
INI_VALUES = {
    "hil_board": ("mps2-an386", "board", "mps2-an386"),
    "hil_emulate": ("renode", "emulate", "renode"),
    "hil_probe": ("0669FF", "probe", "0669FF"),
    "hil_flasher": ("openocd", "flasher", "openocd"),
    "hil_port": ("/dev/ttyACM7", "port", "/dev/ttyACM7"),
    "hil_baud": ("921600", "baud", 921600),
    "hil_baud_negotiation": ("off", "baud_negotiation", False),
    "hil_transport": ("semihosting", "transport", "semihosting"),
    "hil_model": ("null_model", "model", "null_model"),
    "hil_images": ("pictures", "images", "pictures"),
    "hil_out": ("out", "out_dir", "out"),
    "hil_metrics": ("hil.prom", "metrics", "hil.prom"),
    "hil_run_timeout": ("7.5", "run_timeout", 7.5),
    "hil_ram_budget": ("1000", "ram_budget", 1000),
    "hil_flash_budget": ("2000", "flash_budget", 2000),
    "hil_latency_budget": ("3000", "latency_budget", 3000),
    "hil_farm": ("farm.yaml", "farm", "farm.yaml"),
    "hil_lock_dir": ("locks", "lock_dir", "locks"),
    "hil_labgrid_coordinator": ("coordinator:20408", "labgrid_coordinator", "coordinator:20408"),
    "hil_shard": ("1/1", "shard", "1/1"),
    "hil_quarantine": ("quarantine.txt", "quarantine", "quarantine.txt"),
    "hil_retries": ("1", "retries", 1),
    "hil_image_count": ("3", "image_count", 3),
    "hil_images_sample": ("40", "images_sample", 40),
    "hil_truth": ("truth.json", "truth", "truth.json"),
    "hil_min_recall": ("0.5", "min_recall", 0.5),
    "hil_min_precision": ("0.4", "min_precision", 0.4),
    "hil_score_margin": ("0.1", "score_margin", 0.1),
    "hil_min_snr_db": ("5", "min_snr_db", 5.0),
    "hil_ap_tolerance": ("0.3", "ap_tolerance", 0.3),
}

DUMP_OPTIONS = """
import json
from dataclasses import asdict
from hil.plugin.options import options_from_config

def test_dump(pytestconfig):
    options = {k: (str(v) if v is not None and not isinstance(v, (int, float)) else v)
               for k, v in asdict(options_from_config(pytestconfig)).items()}
    declared = sorted(k for k in pytestconfig._parser._inidict if k.startswith("hil_"))
    print("OPTIONS " + json.dumps({"options": options, "declared": declared}))
"""


def _dump(result: pytest.RunResult) -> dict:
    line = next(line for line in result.outlines if "OPTIONS " in line)
    return json.loads(line.split("OPTIONS ", 1)[1])


def test_every_ini_setting_is_read(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\n" + "".join(f"{k} = {v}\n" for k, (v, _, _) in INI_VALUES.items()))
    pytester.makefile(".txt", quarantine="")
    pytester.makefile(".json", truth='{"images": []}')
    pictures = pytester.mkdir("pictures")  # the setup checks read every image before the run
    import cv2
    import numpy as np

    cv2.imwrite(str(pictures / "grey.png"), np.zeros((240, 320), dtype=np.uint8))
    pytester.makepyfile(test_dump=DUMP_OPTIONS)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    dump = _dump(result)
    assert dump["declared"] == sorted(INI_VALUES), "an ini setting is declared but not read (or not tested here)"
    assert {field: dump["options"][field] for _, field, _ in INI_VALUES.values()} == {
        field: expected for _, field, expected in INI_VALUES.values()
    }


STAND_IN_SERIAL_PLUGIN = '''
"""Declares the options pytest-embedded-serial declares for itself (it is not installed here)."""

def pytest_addoption(parser):
    group = parser.getgroup("embedded-serial")
    group.addoption("--port", help="serial port")
    group.addoption("--baud", help="serial port baud rate")
'''


def test_the_plugin_installs_beside_one_that_owns_port_and_baud(pytester: pytest.Pytester):
    """A stand-in declares pytest-embedded-serial's `--port` and `--baud` (the real package is not a
    dependency: its own `dut` fixture would meet the harness's in every run). With pytest-embedded 2.9.3
    on the path, the old `--port` went silently to it; `--hil-port` reaches the harness."""
    pytester.makepyfile(embedded_serial=STAND_IN_SERIAL_PLUGIN, test_dump=DUMP_OPTIONS)
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "-p", "embedded_serial", "--port", "/dev/ttyUSB0", "--baud", "115200",
        "--hil-port", "/dev/ttyACM0", "--hil-baud", "921600", "--hil-probe", "0669FF",
        "-s", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    options = _dump(result)["options"]
    assert (options["port"], options["baud"], options["probe"]) == ("/dev/ttyACM0", 921600, "0669FF")
    assert {flag for flag, *_ in _OPTIONS} >= {"--hil-port", "--hil-baud", "--hil-probe"}
    assert not {"--port", "--baud", "--probe"} & {flag for flag, *_ in _OPTIONS}


def test_hil_version():
    result = subprocess.run([sys.executable, "-m", "hil.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"hil {hil.__version__}"
