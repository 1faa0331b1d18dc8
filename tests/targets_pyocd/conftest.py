"""A tiny image (16 bytes in, the same 16 out), UART and rtt builds, keeps the board-target tests about the target."""

from __future__ import annotations

import pytest

from hil.build.firmware_builder import BuildRequest, FirmwareBuilder, FirmwareImage
from tests.support.custom_model import write_model


def _echo(builder: FirmwareBuilder, qemu_board, tmp_path_factory: pytest.TempPathFactory, transport: str):
    model = write_model(tmp_path_factory.mktemp("echo_model") / "echo", "echo", "(void)arena; return 0;")
    return builder.build(BuildRequest(qemu_board, model, transport))


@pytest.fixture(scope="session")
def echo_image(builder: FirmwareBuilder, qemu_board, tmp_path_factory: pytest.TempPathFactory) -> FirmwareImage:
    return _echo(builder, qemu_board, tmp_path_factory, "uart")


@pytest.fixture(scope="session")
def rtt_echo(builder: FirmwareBuilder, qemu_board, tmp_path_factory: pytest.TempPathFactory) -> FirmwareImage:
    return _echo(builder, qemu_board, tmp_path_factory, "rtt")
