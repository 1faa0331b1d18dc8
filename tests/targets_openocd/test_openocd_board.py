"""`--hil-flasher openocd` end to end: the option picks the registered kind, OpenOcdBoardTarget checks the chip,
flashes and resets through OpenOcdProbeDriver's real command lines, then talks over the probe's own port (UART)
or through an OpenOCD that stays attached and serves the running core's memory on its Tcl port (rtt).

The probe part is a thin recording stand-in, since no ST-LINK exists here: an `openocd` script that writes its
argv to a file, answers a memory read with an STM32F43x DEV_ID, and, run as a server (a `tcl_port N` in its
argv), serves N with the fake Tcl server of tests/targets_openocd/fake_tcl.py over QEMU's gdbstub. The board is
QEMU running the same image, started by the test as if the flash had put it there."""

from __future__ import annotations

import dataclasses
import json
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.errors import TargetError
from hil.link.rtt import control_block_symbol
from hil.openocd.commands import (
    openocd_command,
    program_commands,
    read_memory_commands,
    reset_commands,
    server_commands,
)
from hil.target_factory import target_kind
from hil.targets.openocd_board import OpenOcdBoardTarget
from hil.targets.openocd_driver import OpenOcdProbeDriver
from hil.targets.qemu import QemuProcess, free_tcp_port
from hil.targets.registry import TargetRequest, create_target
from tests.targets_pyocd.fakes import listening

UID = "066DFF575251717867114355"
CONFIG = "board/st_nucleo_f4.cfg"
STAND_IN = """#!{python}
import json, os, sys
with open({record!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if any("read_memory" in a for a in sys.argv):
    print("hil-openocd-result:0x19 0x04 0x00 0x10")  # DBGMCU_IDCODE of an STM32F42x/43x: DEV_ID 0x419
tcl = [a.split()[1] for a in sys.argv if a.startswith("tcl_port ") and a != "tcl_port disabled"]
if tcl:
    sys.path.insert(0, {root!r})
    from tests.targets_openocd.fake_tcl import FakeTclServer, RunningCore
    FakeTclServer(RunningCore(int(os.environ["FAKE_OPENOCD_GDB_PORT"])), int(tcl[0])).serve_forever()
"""


@dataclass
class UsbPort:
    """One entry of serial.tools.list_ports.comports(), with the USB ids OpenOcdProbeDriver reads."""

    device: str
    serial_number: str | None
    vid: int | None = None
    pid: int | None = None
    description: str = "STM32 STLink - ST-Link VCP Data"
    location: str | None = None


@pytest.fixture
def recording_openocd(tmp_path) -> tuple[Path, Path]:
    record = tmp_path / "openocd-calls.jsonl"
    script = tmp_path / "openocd"
    root = str(Path(__file__).resolve().parents[2])
    script.write_text(STAND_IN.format(python=sys.executable, record=str(record), root=root))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, record


@pytest.fixture
def board_on_qemu(qemu_board, echo_image, tmp_path):
    """The echo image running with its UART on a local TCP port: the 'board' behind the virtual COM port."""
    port = free_tcp_port()
    serial = f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"
    process = QemuProcess(qemu_board, echo_image.elf, tmp_path, serial)
    process.start()
    deadline = time.monotonic() + 10
    while not listening(port):
        assert time.monotonic() < deadline, f"QEMU did not listen on {port}: {process.output_tail()}"
        time.sleep(0.02)
    yield port
    process.process.kill()
    process.process.wait(5)


def test_the_flasher_option_picks_the_openocd_kind(qemu_board, tmp_path):
    assert target_kind(None, "uart", None, "openocd") == "openocd"
    assert target_kind(None, "uart", None) == "pyocd"
    with pytest.raises(TargetError, match=r"^flasher 'jlink' is not one of pyocd, openocd$"):
        target_kind(None, "uart", None, "jlink")
    board = dataclasses.replace(qemu_board, openocd_config=CONFIG)
    target = create_target("openocd", TargetRequest(board, tmp_path / "x.elf", tmp_path, 5, probe=UID))
    assert isinstance(target, OpenOcdBoardTarget) and isinstance(target.driver, OpenOcdProbeDriver)
    assert target.driver.config == CONFIG and target.probe_uid == UID and not target.verify


def test_flashes_resets_and_talks_over_the_probes_port(
    qemu_board, echo_image, tmp_path, recording_openocd, board_on_qemu
):
    script, record = recording_openocd
    board = dataclasses.replace(qemu_board, pyocd_target="stm32f439xi", openocd_config=CONFIG)
    ports = [
        UsbPort("/dev/ttyUSB0", "A50285BI", 0x0403, 0x6001, "FT232R"),
        UsbPort(f"socket://127.0.0.1:{board_on_qemu}", UID, 0x0483, 0x374B),
    ]
    driver = OpenOcdProbeDriver(CONFIG, executable=str(script), list_ports=lambda: ports)
    target = OpenOcdBoardTarget(
        board, echo_image.elf, driver=driver, list_ports=lambda: ports, lock_dir=tmp_path / "locks", verify=False
    )
    try:
        info = target.start()
        assert target.probe.unique_id == UID and info.build_id == echo_image.build_id
        outcome = target.infer([bytes(range(16))])
        assert outcome.outputs == (bytes(range(16)),)
    finally:
        target.stop()
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    expected = [
        openocd_command([CONFIG], read_memory_commands(0xE0042000, 4), UID, str(script)),
        openocd_command([CONFIG], program_commands(echo_image.elf.resolve()), UID, str(script)),
        openocd_command([CONFIG], reset_commands(), UID, str(script)),
    ]
    assert [[str(script), *c] for c in calls] == expected


def test_no_stlink_and_a_board_without_config_say_so(qemu_board, echo_image, tmp_path):
    board = dataclasses.replace(qemu_board, pyocd_target="stm32f439xi")
    ports = [UsbPort("/dev/ttyUSB0", "A50285BI", 0x0403, 0x6001)]
    target = OpenOcdBoardTarget(board, echo_image.elf, driver=OpenOcdProbeDriver(CONFIG, list_ports=lambda: ports))
    with pytest.raises(TargetError, match=r"^board 'mps2-an386' has no openocd_config in its board.toml"):
        target.start()
    target.board = dataclasses.replace(board, openocd_config=CONFIG)
    with pytest.raises(TargetError, match=r"^no ST-LINK is connected"):
        target.start()


@pytest.fixture
def rtt_board_on_qemu(qemu_board, rtt_echo, tmp_path, monkeypatch):
    """The rtt echo image running with QEMU's gdbstub open, which the stand-in server reaches the core through."""
    gdb_port = free_tcp_port()
    process = QemuProcess(qemu_board, rtt_echo.elf, tmp_path, "null", extra_args=("-gdb", f"tcp:127.0.0.1:{gdb_port}"))
    process.start()
    deadline = time.monotonic() + 10
    while not listening(gdb_port):
        assert time.monotonic() < deadline, f"QEMU did not listen on {gdb_port}: {process.output_tail()}"
        time.sleep(0.02)
    monkeypatch.setenv("FAKE_OPENOCD_GDB_PORT", str(gdb_port))
    yield
    process.process.kill()
    process.process.wait(5)


def test_rtt_goes_through_an_openocd_that_stays_attached(
    qemu_board, rtt_echo, tmp_path, recording_openocd, rtt_board_on_qemu
):
    script, record = recording_openocd
    board = dataclasses.replace(qemu_board, pyocd_target="stm32f439xi", openocd_config=CONFIG)
    ports = [UsbPort("/dev/ttyACM7", UID, 0x0483, 0x374B)]
    driver = OpenOcdProbeDriver(CONFIG, executable=str(script), list_ports=lambda: ports, log_dir=tmp_path / "logs")
    target = OpenOcdBoardTarget(
        board, rtt_echo.elf, transport="rtt", driver=driver, list_ports=lambda: ports, lock_dir=tmp_path / "locks",
        verify=False, reply_timeout=2.0,
    )  # fmt: skip
    try:
        info = target.start()
        assert info.transport == "rtt" and info.build_id == rtt_echo.build_id
        assert target.port_url == f"rtt@0x{control_block_symbol(rtt_echo.elf):08x}"
        for seed in (1, 2):
            data = bytes((seed * i) & 0xFF for i in range(16))
            assert target.infer([data]).outputs == (data,)
        server = driver.server
        assert server is not None and server.running
    finally:
        target.stop()
    assert driver.server is None and server.process is None  # stop() ended the server and freed the probe
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    expected = [
        openocd_command([CONFIG], read_memory_commands(0xE0042000, 4), UID, str(script)),
        openocd_command([CONFIG], program_commands(rtt_echo.elf.resolve()), UID, str(script)),
        openocd_command([CONFIG], reset_commands(), UID, str(script)),
        openocd_command([CONFIG], server_commands(), UID, str(script), tcl_port=server.tcl_port),
    ]
    assert [[str(script), *c] for c in calls] == expected
