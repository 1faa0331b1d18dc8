"""The generated Renode platform and script, and the install hint where Renode is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hil.board_description import load_board
from hil.errors import TargetError
from hil.targets.renode import RenodeTarget, layout_for, parse_led_log, platform_text, script_text


@pytest.fixture
def board():
    return load_board("nucleo-f439zi")


def test_platform_has_the_f439zi_memory_usart3_and_the_led_on_pb7(board):
    repl = platform_text(board)
    assert 'using "platforms/cpus/stm32f4.repl"' in repl
    assert "flash: @ sysbus 0x08000000\n    size: 0x200000\n" in repl
    assert "sram: @ sysbus 0x20000000\n    size: 0x30000\n" in repl
    assert "ccm: Memory.MappedMemory @ sysbus 0x10000000\n    size: 0x10000\n" in repl
    assert "led2: Miscellaneous.LED @ gpioPortB\n" in repl and "gpioPortB:\n    7 -> led2@0\n" in repl
    lay = layout_for(board)
    assert lay.uart == "usart3" and lay.led_path == "sysbus.gpioPortB.led2"


def test_script_loads_the_elf_and_puts_usart3_and_the_led_log_where_the_host_expects(board, tmp_path):
    elf, repl = tmp_path / "fw.elf", tmp_path / "nucleo.repl"
    resc = script_text(board, elf, repl, 43210, tmp_path / "led.log", tmp_path / "renode.log")
    lines = resc.splitlines()
    assert lines[1] == 'mach create "nucleo-f439zi"'
    assert f"machine LoadPlatformDescription @{repl}" in lines
    assert f"sysbus LoadELF @{elf}" in lines
    assert 'emulation CreateServerSocketTerminal 43210 "hil_uart" false' in lines
    assert "connector Connect sysbus.usart3 hil_uart" in lines
    assert 'hil_led = hil_machine["sysbus.gpioPortB.led2"]' in lines
    assert "    seconds = hil_machine.ElapsedVirtualTime.TimeElapsed.TotalSeconds" in lines
    assert f'hil_led_log = r"{tmp_path / "led.log"}"' in lines
    assert lines[-1] == "start" and lines.index("python") < lines.index("start")


def test_led_log_becomes_on_intervals_in_virtual_seconds():
    log = "0.000100000 0\n0.012000000 1\n0.015500000 0\n0.020000000 1\n0.021000000 1\n0.030000000 0\n0.040000000 1\n"
    assert parse_led_log(log) == [(0.012, 0.0155), (0.02, 0.03)]


def test_start_without_renode_says_how_to_install_it_in_one_line(board, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("renode") is None
    target = RenodeTarget(board, Path("/nonexistent.elf"), tmp_path / "run")
    with pytest.raises(TargetError) as caught:
        target.start()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("renode is not on PATH: install Renode from https://github.com/renode/renode/releases")
    assert "portable" in message and ".deb" in message
    target.stop()


def test_files_are_written_into_the_workdir(board, tmp_path):
    target = RenodeTarget(board, tmp_path / "fw.elf", tmp_path / "run")
    script = target.write_files(5555)
    assert script == tmp_path / "run" / "nucleo-f439zi.resc"
    assert (tmp_path / "run" / "nucleo-f439zi.repl").read_text() == platform_text(board)
    assert "CreateServerSocketTerminal 5555" in script.read_text()
