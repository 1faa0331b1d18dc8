"""PyOcdBoardTarget against a fake probe driver whose board is QEMU: selection, flashing, the port of the
same probe, recovery of a hung board, and every error a real bench produces."""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import shutil

import pytest
from elftools.elf.elffile import ELFFile

from hil.errors import TargetError
from hil.locks.board_lock import BoardLock
from hil.targets.board_errors import (
    BoardHungError,
    FlashVerifyError,
    NoComPortError,
    NoFreeProbeError,
    NoProbeError,
    PortBusyError,
    ProbeNotFoundError,
    StaleFirmwareError,
    WrongChipError,
)
from hil.targets.pyocd_board import PyOcdBoardTarget
from hil.targets.pyocd_driver import PyOcdProbeDriver
from hil.targets.qemu import free_tcp_port
from tests.targets_pyocd.fakes import FakePort, FakeProbeDriver, stlink

UID = "066DFF575251717867114355"
OTHER = "0670FF504955857567173120"


@pytest.fixture
def board(qemu_board):
    """The QEMU stand-in, given the F439ZI's pyOCD target, so the fake's chip checks apply."""
    return dataclasses.replace(qemu_board, pyocd_target="stm32f439xi")


@pytest.fixture
def uart_port() -> int:
    return free_tcp_port()


@pytest.fixture
def ports(uart_port):
    """What comports() would list: other probes' ports around the one of probe UID."""
    return [
        FakePort("/dev/ttyACM0", OTHER),
        FakePort(f"socket://127.0.0.1:{uart_port}", UID),
        FakePort("/dev/ttyUSB0", None, "CP2102 USB to UART"),
    ]


def make(board, elf, tmp_path, driver, ports, **kwargs) -> PyOcdBoardTarget:
    options = dict(reply_timeout=0.5, attempts=2, run_timeout=10.0, lock_dir=tmp_path / "locks")
    options.update(kwargs)
    return PyOcdBoardTarget(board, elf, driver=driver, list_ports=lambda: ports, **options)


def fake(board, tmp_path, uart_port, probes=None, **kwargs) -> FakeProbeDriver:
    probes = [stlink(UID)] if probes is None else probes
    return FakeProbeDriver(probes, board, tmp_path / "qemu", uart_port, **kwargs)


def infer_once(target) -> None:
    outcome = target.infer([bytes(range(16))])
    assert outcome.summary.status == 0 and outcome.outputs == (bytes(range(16)),)


def test_flashes_verifies_resets_and_talks_over_the_probes_own_port(board, echo_image, tmp_path, uart_port, ports):
    driver = fake(board, tmp_path, uart_port, probes=[stlink(OTHER, "stm32f429xi", "NUCLEO-F429ZI"), stlink(UID)])
    target = make(board, echo_image.elf, tmp_path, driver, ports)
    try:
        info = target.start()
        assert target.probe.unique_id == UID
        assert target.port_url == f"socket://127.0.0.1:{uart_port}"
        assert info.build_id == echo_image.build_id and info.board == board.name
        assert driver.calls[:3] == ["list_probes", f"open {UID} stm32f439xi", "read 0xe0042000 4"]
        assert "flash firmware.elf" in driver.calls
        assert driver.calls.index("reset") > max(i for i, c in enumerate(driver.calls) if c.startswith("read 0x0"))
        infer_once(target)
    finally:
        target.stop()
        target.stop()
    assert driver.calls[-1] == "close" and driver.qemu is None


def test_picks_the_probe_asked_for_by_unique_id(board, echo_image, tmp_path, uart_port, ports):
    driver = fake(board, tmp_path, uart_port, probes=[stlink(OTHER), stlink(UID)])
    target = make(board, echo_image.elf, tmp_path, driver, ports, probe_uid=UID.lower())
    try:
        target.start()
        assert driver.opened == UID
    finally:
        target.stop()


def test_first_free_probe_of_the_right_kind_skips_others_and_busy_ones(board, echo_image, tmp_path, uart_port, ports):
    probes = [
        stlink("AAAA", "stm32f429xi", "NUCLEO-F429ZI"),
        dataclasses.replace(stlink("BBBB"), product="DAPLink CMSIS-DAP", description="DAPLink"),
        stlink(OTHER),
        stlink(UID),
    ]
    driver = fake(board, tmp_path, uart_port, probes=probes)
    held = BoardLock(f"probe-{OTHER}", tmp_path / "locks")
    assert held.try_acquire()
    target = make(board, echo_image.elf, tmp_path, driver, ports)
    try:
        target.start()
        assert target.probe.unique_id == UID
        assert BoardLock(f"probe-{UID}", tmp_path / "locks").locked()
    finally:
        target.stop()
        held.release()
    assert not BoardLock(f"probe-{UID}", tmp_path / "locks").locked()


def test_a_hung_board_is_reset_and_answers_again(board, echo_image, tmp_path, uart_port, ports, caplog):
    """A reset board is back at its default rate: the host opens its port there and negotiates again."""
    driver = fake(board, tmp_path, uart_port)
    target = make(board, echo_image.elf, tmp_path, driver, ports)
    try:
        with caplog.at_level(logging.INFO, logger="hil.targets.linked"):
            target.start()
            driver.hang()
            infer_once(target)
        assert target.recovery_log == ["reset"]
        assert caplog.text.count("UART at 921600 baud (negotiated up from 115200)") == 2
        assert target.link.port.baudrate == 921_600
    finally:
        target.stop()


def test_a_board_still_dead_after_reset_is_reflashed(board, echo_image, tmp_path, uart_port, ports):
    driver = fake(board, tmp_path, uart_port)
    target = make(board, echo_image.elf, tmp_path, driver, ports)
    try:
        target.start()
        driver.frozen_resets = 1
        driver.hang()
        infer_once(target)
        assert target.recovery_log == ["reset", "reflash"]
        assert driver.calls.count("flash firmware.elf") == 2
    finally:
        target.stop()


def test_a_board_that_never_comes_back_ends_in_a_clear_error(board, echo_image, tmp_path, uart_port, ports):
    driver = fake(board, tmp_path, uart_port)
    target = make(board, echo_image.elf, tmp_path, driver, ports, recoveries=3)
    try:
        target.start()
        driver.sticky_hang = True
        driver.hang()
        with pytest.raises(BoardHungError, match=r"3 recoveries \(reset, reflash, reflash\) did not bring it back"):
            infer_once(target)
    finally:
        target.stop()


def test_no_probe_says_so_and_how_to_check(board, echo_image, tmp_path, uart_port, ports):
    target = make(board, echo_image.elf, tmp_path, fake(board, tmp_path, uart_port, probes=[]), ports)
    with pytest.raises(NoProbeError, match=r"No available debug probes are connected.*`pyocd list`"):
        target.start()


def test_real_pyocd_finds_no_probe_on_this_machine(board, echo_image, tmp_path):
    assert PyOcdProbeDriver().list_probes() == []
    target = PyOcdBoardTarget(board, echo_image.elf, lock_dir=tmp_path / "locks", list_ports=lambda: [])
    with pytest.raises(NoProbeError, match="No available debug probes are connected"):
        target.start()


def test_unknown_unique_id_lists_the_ids_seen(board, echo_image, tmp_path, uart_port, ports):
    driver = fake(board, tmp_path, uart_port, probes=[stlink(OTHER), stlink(UID)])
    target = make(board, echo_image.elf, tmp_path, driver, ports, probe_uid="DEADBEEF")
    with pytest.raises(ProbeNotFoundError, match=f"no connected probe has unique ID 'DEADBEEF'.*{OTHER}, {UID}"):
        target.start()


def test_a_probe_in_use_by_another_process_is_refused(board, echo_image, tmp_path, uart_port, ports):
    held = BoardLock(f"probe-{UID}", tmp_path / "locks")
    assert held.try_acquire()
    target = make(board, echo_image.elf, tmp_path, fake(board, tmp_path, uart_port), ports, probe_uid=UID)
    with pytest.raises(NoFreeProbeError, match=f"probe {UID}.*in use by another process"):
        target.start()
    held.release()


def test_port_busy_names_the_port_and_the_likely_holder(board, echo_image, tmp_path, uart_port):
    leader, follower = os.openpty()
    tty = os.ttyname(follower)
    holder = os.open(tty, os.O_RDWR | os.O_NOCTTY)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what picocom or pyserial's exclusive=True do
    driver = fake(board, tmp_path, uart_port)
    target = make(board, echo_image.elf, tmp_path, driver, [FakePort(tty, UID)])
    try:
        with pytest.raises(PortBusyError, match=f"{tty}, the serial port of board .*another program holds it"):
            target.start()
    finally:
        for fd in (holder, leader, follower):
            os.close(fd)
    assert not BoardLock(f"probe-{UID}", tmp_path / "locks").locked()


def test_no_com_port_for_the_probe(board, echo_image, tmp_path, uart_port):
    ports = [FakePort("/dev/ttyACM0", OTHER)]
    target = make(board, echo_image.elf, tmp_path, fake(board, tmp_path, uart_port), ports)
    with pytest.raises(NoComPortError, match=f"probe {UID} shows no virtual COM port.*/dev/ttyACM0 \\(serial {OTHER}"):
        target.start()


def test_a_farm_port_of_another_probe_is_refused(board, echo_image, tmp_path, uart_port, ports):
    target = make(board, echo_image.elf, tmp_path, fake(board, tmp_path, uart_port), ports, serial_port="/dev/ttyACM0")
    with pytest.raises(NoComPortError, match=f"/dev/ttyACM0 is the port of USB serial number {OTHER}, not of probe"):
        target.start()


def test_wrong_chip_behind_the_probe(board, echo_image, tmp_path, uart_port, ports):
    target = make(board, echo_image.elf, tmp_path, fake(board, tmp_path, uart_port, dev_id=0x413), ports)
    with pytest.raises(WrongChipError, match=r"DEV_ID 0x413 \(STM32F405/407/415/417\).*needs 0x419"):
        target.start()


def test_a_probe_asked_for_whose_board_is_another_part(board, echo_image, tmp_path, uart_port, ports):
    driver = fake(board, tmp_path, uart_port, probes=[stlink(UID, "stm32f429xi", "NUCLEO-F429ZI")])
    target = make(board, echo_image.elf, tmp_path, driver, ports, probe_uid=UID)
    with pytest.raises(WrongChipError, match="target stm32f429xi, but this run needs stm32f439xi"):
        target.start()


def test_an_image_built_for_another_board_is_refused_before_the_probe_is_touched(
    qemu_board, echo_image, tmp_path, uart_port, ports
):
    silicon = dataclasses.replace(qemu_board, name="nucleo-f439zi", pyocd_target="stm32f439xi")
    driver = fake(silicon, tmp_path, uart_port)
    with pytest.raises(WrongChipError, match="built for board 'mps2-an386', not 'nucleo-f439zi'"):
        make(silicon, echo_image.elf, tmp_path, driver, ports).start()
    assert driver.calls == []


def test_stale_firmware_is_named(board, echo_image, tmp_path, uart_port, ports):
    newer = tmp_path / "newer.elf"
    shutil.copy(echo_image.elf, newer)
    with open(newer, "r+b") as f:
        note = ELFFile(f).get_section_by_name(".note.gnu.build-id")
        f.seek(note["sh_offset"] + note["sh_size"] - 1)
        last = f.read(1)[0]
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([last ^ 0xFF]))
    driver = fake(board, tmp_path, uart_port, runs_elf=echo_image.elf)
    with pytest.raises(StaleFirmwareError, match=f"runs build {echo_image.build_id}, .*newer.elf is build"):
        make(board, newer, tmp_path, driver, ports).start()
    assert driver.qemu is None  # stopped on the way out


def test_flash_that_reads_back_differently_fails_verification(board, echo_image, tmp_path, uart_port, ports):
    driver = fake(board, tmp_path, uart_port, corrupt_flash=True)
    with pytest.raises(FlashVerifyError, match="reads back differently"):
        make(board, echo_image.elf, tmp_path, driver, ports).start()


def test_semihosting_through_pyocd_is_refused_clearly(board, echo_image, tmp_path, uart_port, ports):
    target = make(board, echo_image.elf, tmp_path, fake(board, tmp_path, uart_port), ports, transport="semihosting")
    with pytest.raises(TargetError, match="semihosting' on a board through pyOCD is not implemented"):
        target.start()


def test_rerun_times_the_same_inputs_again_and_survives_a_hang(board, echo_image, tmp_path, uart_port, ports):
    driver = fake(board, tmp_path, uart_port)
    target = make(board, echo_image.elf, tmp_path, driver, ports)
    try:
        target.start()
        first = target.infer([bytes(range(16, 32))]).summary
        again = target.rerun()
        assert again.output_crcs == first.output_crcs and again.inference_count == first.inference_count + 1
        driver.hang()
        assert target.rerun().output_crcs == first.output_crcs
        assert target.recovery_log == ["reset"]
    finally:
        target.stop()
