"""An emulator that dies or freezes between inferences is restarted on the same image, the inference retried,
and the restart said (a warning and the device log); restarts are bounded."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from hil import conv_test_model
from hil.errors import TargetError
from hil.targets.qemu import QemuUartTarget
from hil.targets.qemu_rtt import QemuRttTarget
from tests.conftest import random_image


def _outputs(target: QemuUartTarget, seed: int) -> np.ndarray:
    outcome = target.infer([conv_test_model.INPUT.to_bytes(random_image(seed))])
    return conv_test_model.OUTPUT.from_bytes(outcome.outputs[0])


@pytest.mark.parametrize(
    ("how", "expected"),
    [(signal.SIGKILL, "exited with status -9"), (signal.SIGSTOP, "stopped answering while running")],
)
def test_a_killed_or_frozen_qemu_is_restarted_and_later_inferences_pass(qemu_board, uart_image, workdir, how, expected):
    target = QemuUartTarget(qemu_board, uart_image.elf, workdir, reply_timeout=0.5, attempts=2)
    target.start()
    try:
        np.testing.assert_array_equal(_outputs(target, 0), conv_test_model.reference(random_image(0)))
        first = target.process.process.pid
        os.kill(first, how)
        with pytest.warns(UserWarning, match=rf"QEMU \(mps2-an386\) {expected}: restarted it \(1 of 2\)"):
            np.testing.assert_array_equal(_outputs(target, 1), conv_test_model.reference(random_image(1)))
        assert target.process.process.pid != first and len(target.restart_log) == 1
        np.testing.assert_array_equal(_outputs(target, 2), conv_test_model.reference(random_image(2)))
        assert target.rerun().status == 0 and len(target.restart_log) == 1
    finally:
        target.stop()


def test_a_qemu_that_keeps_dying_ends_in_one_error_after_its_restarts(qemu_board, uart_image, workdir):
    target = QemuUartTarget(qemu_board, uart_image.elf, workdir, reply_timeout=0.5, attempts=2, restarts=0)
    target.start()
    try:
        os.kill(target.process.process.pid, signal.SIGKILL)
        with pytest.raises(
            TargetError, match=r"stopped answering and 0 restarts did not bring it back: .*exited with status -9"
        ):
            _outputs(target, 0)
    finally:
        target.stop()


def test_the_rtt_target_is_restarted_too(qemu_board, builder, test_model, workdir):
    from hil.build.firmware_builder import BuildRequest

    image = builder.build(BuildRequest(qemu_board, test_model, "rtt"))
    target = QemuRttTarget(qemu_board, image.elf, workdir, reply_timeout=1.0, attempts=2)
    target.start()
    try:
        os.kill(target.process.process.pid, signal.SIGKILL)
        with pytest.warns(UserWarning, match="restarted it"):
            np.testing.assert_array_equal(_outputs(target, 3), conv_test_model.reference(random_image(3)))
    finally:
        target.stop()
