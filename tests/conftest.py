"""Shared fixtures for the harness's own tests: firmware images built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from hil import conv_test_model
from hil.board_description import BoardDescription, load_board
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder, FirmwareImage
from hil.model_sources import ModelSources
from hil.targets.qemu import QemuProcess, free_tcp_port, wait_until_listening


@pytest.fixture(autouse=True, scope="session")
def reports_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The pytest runs these tests start without --hil-out (as a user would) write their run folders here, not into
    the checkout's reports/, which is the user's."""
    from hil.plugin.results_fixture import REPORTS_DIR_VARIABLE

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(REPORTS_DIR_VARIABLE, str(tmp_path_factory.mktemp("reports")))
        yield


@pytest.fixture(scope="session")
def builder(tmp_path_factory: pytest.TempPathFactory) -> FirmwareBuilder:
    return FirmwareBuilder(tmp_path_factory.mktemp("firmware"))


@pytest.fixture(scope="session")
def test_model(tmp_path_factory: pytest.TempPathFactory) -> ModelSources:
    return conv_test_model.emit(tmp_path_factory.mktemp("model_c") / conv_test_model.NAME)


@pytest.fixture(scope="session")
def qemu_board() -> BoardDescription:
    return load_board("mps2-an386")


@pytest.fixture(scope="session")
def uart_image(builder: FirmwareBuilder, test_model: ModelSources, qemu_board: BoardDescription) -> FirmwareImage:
    return builder.build(BuildRequest(qemu_board, test_model, "uart"))


@pytest.fixture(scope="session")
def semihosting_image(
    builder: FirmwareBuilder, test_model: ModelSources, qemu_board: BoardDescription
) -> FirmwareImage:
    return builder.build(BuildRequest(qemu_board, test_model, "semihosting"))


def random_image(seed: int) -> np.ndarray:
    """An int8 input for the test model, different for every seed."""
    return np.random.default_rng(seed).integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "run"


@contextmanager
def uart_on_tcp(board: BoardDescription, elf: Path, workdir: Path) -> Iterator[tuple[int, QemuProcess]]:
    """A UART build running under QEMU, its UART served on a local TCP port: (port, the QEMU process)."""
    port = free_tcp_port()
    process = QemuProcess(board, elf, workdir, f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on")
    process.start()
    try:
        wait_until_listening(port)
        yield port, process
    finally:
        process.stop()


@pytest.fixture
def qemu_port(
    qemu_board: BoardDescription, uart_image: FirmwareImage, workdir: Path
) -> Iterator[tuple[int, QemuProcess]]:
    """The test model's UART build under QEMU on a local TCP port, for a fault proxy or a port target."""
    with uart_on_tcp(qemu_board, uart_image.elf, workdir) as served:
        yield served
