"""The semihosting build under QEMU: inputs and outputs through host files, status as the exit code."""

from __future__ import annotations

import numpy as np
import pytest

from hil import conv_test_model
from hil.errors import TargetError
from hil.targets.qemu import QemuSemihostingTarget
from tests.conftest import random_image


@pytest.fixture
def target(qemu_board, semihosting_image, workdir):
    t = QemuSemihostingTarget(qemu_board, semihosting_image.elf, workdir, run_timeout=60.0)
    t.start()
    return t


def test_info_comes_from_a_run_without_inputs(target, semihosting_image):
    assert target.info.transport == "semihosting"
    assert target.info.build_id == semihosting_image.build_id
    assert target.last_exit.returncode == 10


@pytest.mark.parametrize("seed", [0, 3])
def test_outputs_equal_the_hosts_exact_computation(target, seed, workdir):
    image = random_image(seed)
    outcome = target.infer([conv_test_model.INPUT.to_bytes(image)])
    np.testing.assert_array_equal(
        conv_test_model.OUTPUT.from_bytes(outcome.outputs[0]), conv_test_model.reference(image)
    )
    assert target.last_exit.returncode == 0
    assert (workdir / "hil_output_0.bin").stat().st_size == conv_test_model.OUTPUT.nbytes
    assert outcome.summary.stack_high_water > 0 and outcome.summary.inference_count == 1


def test_semihosting_and_uart_count_the_same_instructions(target, qemu_board, uart_image, tmp_path):
    from hil.targets.qemu import QemuUartTarget

    data = conv_test_model.INPUT.to_bytes(random_image(4))
    via_files = target.infer([data]).summary.timing
    with QemuUartTarget(qemu_board, uart_image.elf, tmp_path / "uart") as uart:
        via_uart = uart.infer([data]).summary.timing
    assert abs(via_files.ticks - via_uart.ticks) <= 1


def test_an_input_file_of_the_wrong_size_fails_with_the_exit_code_and_message(target):
    with pytest.raises(TargetError, match=r"exited with 2 \(BAD_LENGTH\).*does not hold exactly"):
        target.infer([b"\x00" * 100])


def test_a_hung_run_is_killed_at_its_timeout(qemu_board, semihosting_image, workdir, monkeypatch):
    target = QemuSemihostingTarget(qemu_board, semihosting_image.elf, workdir, run_timeout=0.01)
    with pytest.raises(TargetError, match=r"passed its 0.01 s timeout and was killed"):
        target.start()
