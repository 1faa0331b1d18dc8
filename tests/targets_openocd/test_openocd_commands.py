"""The OpenOCD command lines the harness builds, run by the real `openocd` (Debian's 0.12).

No probe exists here, so two checks stand in for a board: the real command line with the NUCLEO's config
must get as far as opening the adapter ('no probe', not a parse error); and each command, after OpenOCD's
own `dummy` adapter and `testee` target (both built into openocd, no hardware), must run past parsing
into the target (`program` starts programming, `read_memory` tries the read)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hil.board_description import load_board
from hil.errors import TargetError
from hil.openocd.commands import (
    failure_kind,
    labgrid_load_commands,
    openocd_command,
    program_commands,
    read_memory_commands,
    reset_commands,
)
from hil.targets.openocd_driver import OpenOcdProbeDriver

pytestmark = pytest.mark.skipif(shutil.which("openocd") is None, reason="openocd is not installed (tools/setup.sh)")

UID = "066DFF575251717867114355"
# OpenOCD's probe-less pair: the dummy adapter and the testee target, so `init` succeeds without hardware.
PROBELESS = [
    "adapter driver dummy",
    "transport select jtag",
    "jtag newtap chip cpu -irlen 4 -expected-id 0",
    "target create chip.cpu testee -chain-position chip.cpu",
]


def run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout + done.stderr


@pytest.fixture
def elf(tmp_path) -> Path:
    """A file whose path needs quoting in Tcl (a space and a $); OpenOCD never gets to read it as an image."""
    path = tmp_path / "my $image.elf"
    path.write_bytes(b"\x7fELF")
    return path


def test_the_nucleo_flash_line_parses_and_stops_at_the_missing_probe(elf):
    config = load_board("nucleo-f439zi").openocd_config
    output = run(openocd_command([config], program_commands(elf), UID))
    assert failure_kind(output) == "no probe", output
    assert "in procedure 'program'" in output


def test_each_command_runs_past_parsing_on_the_probeless_adapter(elf):
    flashed = run(openocd_command([], [*PROBELESS, *program_commands(elf)]))
    assert "** Programming Started **" in flashed and failure_kind(flashed) != "parse", flashed
    read = run(openocd_command([], [*PROBELESS, *read_memory_commands(0xE0042000, 4)]))
    assert "read at 0xe0042000 with width=8 and count=4 failed" in read and failure_kind(read) != "parse", read
    reset = run(openocd_command([], [*PROBELESS, *reset_commands()]))
    assert failure_kind(reset) != "parse" and "shutdown command invoked" in reset, reset


def test_a_misspelt_command_or_config_is_a_parse_error(elf):
    misspelt = run(openocd_command([], [*PROBELESS, program_commands(elf)[0].replace("program", "progam")]))
    assert failure_kind(misspelt) == "parse", misspelt
    assert failure_kind(run(openocd_command(["board/st_nucleo_f9.cfg"], reset_commands()))) == "parse"


def test_labgrid_gets_the_same_program_line_as_a_template(elf):
    assert [c.format(filename=str(elf)) for c in labgrid_load_commands()] == program_commands(elf)


def test_the_driver_says_no_probe_in_one_line(elf):
    driver = OpenOcdProbeDriver(load_board("nucleo-f439zi").openocd_config or "", list_ports=lambda: [])
    driver.open(UID, "stm32f439xi")
    with pytest.raises(TargetError, match=rf"^OpenOCD could not open probe {UID} to program .*: .*open failed") as e:
        driver.flash(elf)
    assert "\n" not in str(e.value)
    broken = OpenOcdProbeDriver("board/st_nucleo_f9.cfg")
    with pytest.raises(TargetError, match=r"^OpenOCD rejected the command line to reset the target: .*st_nucleo_f9"):
        broken.reset()
    with pytest.raises(TargetError, match=r"^no-such-openocd is not installed: apt-get install openocd$"):
        OpenOcdProbeDriver("board/st_nucleo_f4.cfg", executable="no-such-openocd").reset()
