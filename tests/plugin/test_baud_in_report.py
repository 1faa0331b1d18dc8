"""The rate a board's UART link runs at reaches the run's report: a run through `--hil-port` (a serial-port
target, here a QEMU started beforehand) negotiates it unless `--hil-baud-negotiation off`."""

from __future__ import annotations

import json
import re

import pytest

from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
from hil.catalog import model_sources
from hil.target_factory import build_description
from tests.conftest import uart_on_tcp

pytest_plugins = ["pytester"]

ONE_RUN = """
import numpy as np
from hil import conv_test_model

def test_one(dut):
    dut.infer([np.zeros(conv_test_model.INPUT.shape, dtype=np.int8)])
"""


# What the report may say the link ran at. With negotiation on, the echo burst at a rate passes only when every
# frame came back at the first try; QEMU over a loaded machine may time one out, and the link then rightly runs
# at a lower listed rate. The report must say which, the same way everywhere; the rate itself is not the point.
NEGOTIATED = (
    r"(230400|460800|921600) baud \(negotiated up from 115200\)|115200 baud \(no faster rate passed its echo burst\)"
)


@pytest.mark.parametrize(
    ("flags", "reported"),
    [((), NEGOTIATED), (("--hil-baud-negotiation", "off"), r"115200 baud \(negotiation off\)")],
    ids=["on", "off"],
)
def test_the_report_says_at_what_rate_the_link_ran(
    pytester: pytest.Pytester, tmp_path, monkeypatch, flags, reported: str
) -> None:
    # Under xdist the inner run would inherit the worker's name and key its rate uart_baud_<worker>.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    # The image the run itself builds (same cache, same build ID), so the device passes the run's image check.
    description = build_description("mps2-an386", "qemu")
    image = FirmwareBuilder().build(BuildRequest(description, model_sources("conv_test_model"), "uart"))
    pytester.makepyfile(test_one=ONE_RUN)
    out = tmp_path / "run"
    with uart_on_tcp(description, image.elf, tmp_path / "qemu") as (port, _):
        result = pytester.runpytest_subprocess(
            "--board", "mps2-an386", "--emulate", "qemu", "--hil-port", f"socket://127.0.0.1:{port}",
            "--hil-out", str(out), "-p", "no:cacheprovider", *flags,
        )  # fmt: skip
    result.assert_outcomes(passed=1)
    rate = json.loads((out / "results.json").read_text())["metadata"]["uart_baud"]
    assert re.fullmatch(reported, rate), rate
    assert f"<td>uart_baud</td><td>{rate}</td>" in (out / "index.html").read_text()
    assert f"UART at {rate}" in (out / "logs" / "test_one.py_test_one.log").read_text()
    assert ("UART baud negotiation off" in result.stdout.str()) == bool(flags)
