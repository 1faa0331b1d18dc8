"""A model that crashes or fails: the host gets a fault report or an error, never a hang."""

from __future__ import annotations

import pytest

from hil.build.firmware_builder import BuildRequest
from hil.errors import DeviceError, TargetError
from hil.targets.qemu import QemuSemihostingTarget, QemuUartTarget
from tests.support.custom_model import write_model

UNDEFINED_INSTRUCTION = '(void)arena; __asm__ volatile("udf #0"); return 0;'


@pytest.fixture
def faulting_model(tmp_path):
    return write_model(tmp_path / "faulting", "faulting", UNDEFINED_INSTRUCTION)


def test_a_fault_in_the_model_comes_back_as_a_fault_report_over_uart(builder, qemu_board, faulting_model, workdir):
    image = builder.build(BuildRequest(qemu_board, faulting_model, "uart"))
    with QemuUartTarget(qemu_board, image.elf, workdir, reply_timeout=1.0) as target:
        with pytest.raises(DeviceError, match=r"FAULT \(8\): fault exception=0x00000006 pc=0x") as caught:
            target.infer([bytes(16)])
    assert caught.value.code == 8


def test_a_fault_under_semihosting_exits_with_the_fault_code(builder, qemu_board, faulting_model, workdir):
    image = builder.build(BuildRequest(qemu_board, faulting_model, "semihosting"))
    target = QemuSemihostingTarget(qemu_board, image.elf, workdir, run_timeout=30.0)
    target.start()
    with pytest.raises(TargetError, match=r"exited with 8 \(FAULT\).*fault exception=0x00000006"):
        target.infer([bytes(16)])


def test_a_model_that_returns_an_error_is_reported_as_model_failed(builder, qemu_board, tmp_path, workdir):
    model = write_model(tmp_path / "failing", "failing", "(void)arena; return -3;")
    image = builder.build(BuildRequest(qemu_board, model, "uart"))
    with QemuUartTarget(qemu_board, image.elf, workdir, reply_timeout=1.0) as target:
        with pytest.raises(DeviceError, match="model_run returned -3"):
            target.infer([bytes(16)])
