"""The rtt transport on a board through pyOCD's memory access, against RunningCoreMemory (tests/targets_pyocd/
fakes.py): the thinnest fake of pyOCD's target interface, its two block methods served by a QEMU that runs the
rtt build and keeps running, as a core does while a probe reads and writes its RAM."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from hil.build.firmware_builder import BuildRequest
from hil.errors import LinkError, TargetError
from hil.link.rtt import control_block_symbol, find_control_block
from hil.targets.pyocd_board import PyOcdBoardTarget
from hil.targets.pyocd_memory import PyOcdMemoryAccess
from hil.targets.qemu import free_tcp_port
from tests.support.custom_model import write_model
from tests.targets_pyocd.fakes import FakeProbeDriver, stlink

UID = "066DFF575251717867114355"


@pytest.fixture
def board(qemu_board):
    return dataclasses.replace(qemu_board, pyocd_target="stm32f439xi")


@pytest.fixture
def driver(board, tmp_path):
    fake = FakeProbeDriver([stlink(UID)], board, tmp_path / "qemu", free_tcp_port(), gdb_port=free_tcp_port())
    yield fake
    fake.close()


def rtt_target(board, elf, tmp_path, driver) -> PyOcdBoardTarget:
    return PyOcdBoardTarget(
        board, elf, transport="rtt", driver=driver, list_ports=list, reply_timeout=1.0, attempts=2,
        lock_dir=tmp_path / "locks",
    )  # fmt: skip


def infer_twice(target: PyOcdBoardTarget) -> None:
    for seed in (1, 2):
        data = bytes((seed * i) & 0xFF for i in range(16))
        outcome = target.infer([data])
        assert outcome.summary.status == 0 and outcome.outputs == (data,)


def test_a_board_talks_rtt_through_the_probe_without_a_serial_port(board, rtt_echo, tmp_path, driver):
    target = rtt_target(board, rtt_echo.elf, tmp_path, driver)
    try:
        info = target.start()
        assert info.transport == "rtt" and info.build_id == rtt_echo.build_id
        assert target.port_url == f"rtt@0x{control_block_symbol(rtt_echo.elf):08x}"
        assert "rtt_memory" in driver.calls
        infer_twice(target)
        assert driver.remote is not None and driver.remote.running  # the core ran on between accesses
    finally:
        target.stop()


def test_an_image_without_the_symbol_is_served_from_the_block_found_by_its_signature(board, rtt_echo, tmp_path, driver):
    strip = shutil.which("arm-none-eabi-strip")
    if strip is None:
        pytest.skip("arm-none-eabi-strip is not installed")
    elf = tmp_path / "stripped.elf"
    subprocess.run([strip, "--strip-symbol=_SEGGER_RTT", "-o", str(elf), str(rtt_echo.elf)], check=True)
    assert control_block_symbol(elf) is None
    target = rtt_target(board, elf, tmp_path, driver)
    try:
        target.start()
        assert target.port_url == f"rtt@0x{control_block_symbol(rtt_echo.elf):08x}"
        infer_twice(target)
    finally:
        target.stop()


def test_the_signature_search_names_the_regions_it_searched(board, rtt_echo, driver):
    driver.flash(rtt_echo.elf)
    driver.reset()
    memory = driver.rtt_memory()
    flash = board.memory["FLASH"]
    with pytest.raises(LinkError, match=r"no RTT control block \('SEGGER RTT'\) in 0x00000000-0x000003ff"):
        find_control_block(memory, [(flash.origin, 1024)])


class UnpluggedProbe:
    """pyOCD's target block methods on a probe whose USB transfers fail."""

    def read_memory_block8(self, addr: int, size: int) -> list[int]:
        raise OSError("LIBUSB_ERROR_NO_DEVICE")

    def write_memory_block8(self, addr: int, data: list[int]) -> None:
        raise OSError("LIBUSB_ERROR_NO_DEVICE")


def test_a_failed_transfer_is_a_link_error_naming_the_probe_and_address():
    memory = PyOcdMemoryAccess(UnpluggedProbe(), f"probe {UID}")
    with pytest.raises(LinkError, match=rf"probe {UID}: reading 4 bytes at 0x20000010 failed: LIBUSB_ERROR_NO_DEVICE"):
        memory.read(0x20000010, 4)
    with pytest.raises(LinkError, match=r"writing 2 bytes at 0x20000020 failed"):
        memory.write(0x20000020, b"ab")


def test_a_board_that_never_writes_a_control_block_fails_in_one_line(board, tmp_path, driver, builder, qemu_board):
    """A UART image has no control block: the probe searches the board's RAM and says so."""
    model = write_model(tmp_path / "echo_model" / "echo", "echo", "(void)arena; return 0;")
    uart = builder.build(BuildRequest(qemu_board, model, "uart"))
    elf = tmp_path / "uart.elf"
    shutil.copy(uart.elf, elf)
    target = rtt_target(board, elf, tmp_path, driver)
    with pytest.raises(TargetError, match=r"no RTT control block \('SEGGER RTT'\) in 0x"):
        target.start()
