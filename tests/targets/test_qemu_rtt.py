"""The rtt build under QEMU: the framed protocol over SEGGER-RTT rings in guest memory, moved by the host
through QEMU's gdbstub while the guest waits at a breakpoint."""

from __future__ import annotations

import numpy as np
import pytest

from hil import conv_test_model
from hil.target_factory import TargetChoice, open_dut
from tests.conftest import random_image


@pytest.fixture(scope="module")
def timings(tmp_path_factory: pytest.TempPathFactory, test_model) -> dict:
    """Two inferences over rtt and one over the UART, on the same image."""
    image = random_image(11)
    found = {}
    for transport in ("rtt", "uart"):
        dut = open_dut(TargetChoice("mps2-an386", "qemu", transport), test_model, tmp_path_factory.mktemp(transport))
        try:
            runs = [dut.infer([image]) for _ in range(2 if transport == "rtt" else 1)]
            found[transport] = (runs, dut.info)
        finally:
            dut.close()
    found["expected"] = conv_test_model.reference(image)
    return found


def test_rtt_outputs_equal_the_host_computation(timings: dict) -> None:
    runs, info = timings["rtt"]
    assert info.transport == "rtt"
    assert all(np.array_equal(run.outputs[0], timings["expected"]) for run in runs)


def test_halting_for_the_rings_does_not_change_the_instruction_count(timings: dict) -> None:
    """Under -icount the guest's clock stands still while it is halted, so rtt and uart time the same run, to
    within the one SysTick tick (40 instructions) every reading has."""
    rtt_runs, _ = timings["rtt"]
    (uart_run,), _ = timings["uart"]
    uart = uart_run.timing.to_dict()["instructions"]
    assert all(abs(run.timing.to_dict()["instructions"] - uart) <= 40 for run in rtt_runs)
