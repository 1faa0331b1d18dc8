"""QEMU's UART on a local TCP port, for the tests that put the fault proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hil.board_description import BoardDescription
from hil.build.firmware_builder import FirmwareImage
from hil.targets.qemu import QemuProcess, free_tcp_port, wait_until_listening


@pytest.fixture
def qemu_port(qemu_board: BoardDescription, uart_image: FirmwareImage, workdir) -> Iterator[tuple[int, QemuProcess]]:
    """The UART build running under QEMU, its UART served on (port, the QEMU process)."""
    port = free_tcp_port()
    process = QemuProcess(qemu_board, uart_image.elf, workdir, f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on")
    process.start()
    wait_until_listening(port)
    yield port, process
    process.stop()
