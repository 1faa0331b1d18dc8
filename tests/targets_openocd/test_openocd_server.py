"""The OpenOCD that stays attached for the rtt transport, run as the real `openocd` (Debian's 0.12) on its own
probe-less pair, the dummy adapter and the testee target: no probe exists here, and the testee has no memory,
so what is checked is the server's life (its Tcl port answers, one server per driver, stopped before a one-shot
run) and its errors, not memory contents (tests/targets_openocd/test_openocd_board.py has those)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from hil.board_description import load_board
from hil.errors import LinkError, TargetError
from hil.openocd.tcl_memory import OpenOcdTclMemory
from hil.targets.openocd_driver import OpenOcdProbeDriver
from tests.targets_openocd.test_openocd_commands import PROBELESS

pytestmark = pytest.mark.skipif(shutil.which("openocd") is None, reason="openocd is not installed (tools/setup.sh)")


@pytest.fixture
def driver(tmp_path) -> Iterator[OpenOcdProbeDriver]:
    config = tmp_path / "probeless.cfg"
    config.write_text("\n".join(PROBELESS) + "\n")
    made = OpenOcdProbeDriver(str(config), log_dir=tmp_path / "logs", timeout=30)
    yield made
    made.close()


def test_the_server_answers_on_its_tcl_port_and_is_stopped_for_a_one_shot_run(driver):
    memory = driver.rtt_memory()
    assert isinstance(memory, OpenOcdTclMemory)
    server = driver.server
    assert server is not None and server.running
    assert f"tcl_port {server.tcl_port}" in server.argv and "gdb_port disabled" in server.argv
    assert server.argv[-2:] == ["-c", "init"]  # attach only: a reset would lose the running firmware's state
    try:
        assert memory.command("version").startswith("Open On-Chip Debugger 0.12")
        with pytest.raises(LinkError, match=r"read_memory 0x20000000 8 4 failed in OpenOCD: .*failed to read memory"):
            memory.read(0x20000000, 4)
        again = driver.rtt_memory()
        assert driver.server is server  # one server per driver, a connection per rtt port
        again.close()
    finally:
        memory.close()
    process = server.process
    driver.reset()  # a one-shot run needs the probe: the server goes first
    assert driver.server is None and process is not None and process.poll() is not None
    assert f"Listening on port {server.tcl_port} for tcl connections" in server.log.read_text()


def test_a_bad_config_and_a_missing_probe_are_one_line_each(tmp_path):
    misspelt = OpenOcdProbeDriver("board/st_nucleo_f9.cfg", log_dir=tmp_path)
    with pytest.raises(TargetError, match=r"^OpenOCD rejected the command line to serve the Tcl port \d+: .*f9"):
        misspelt.rtt_memory()
    assert misspelt.server is None
    nucleo = OpenOcdProbeDriver(load_board("nucleo-f439zi").openocd_config or "", log_dir=tmp_path, timeout=30)
    with pytest.raises(TargetError, match=r"^OpenOCD could not open probe \(any\) to serve the Tcl port \d+: "):
        nucleo.rtt_memory()
    missing = OpenOcdProbeDriver("x.cfg", executable=str(tmp_path / "no-openocd"), log_dir=tmp_path)
    with pytest.raises(TargetError, match=r"no-openocd is not installed: apt-get install openocd$"):
        missing.rtt_memory()
