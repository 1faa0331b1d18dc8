"""The `hil` command as a user runs it: a real subprocess, real builds, real QEMU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hil.exit_codes import NO_DEVICE, USAGE_ERROR


def hil(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hil.cli", *args], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("board", ["nucleo-f439zi", "mps2-an386"])
def test_build_json_prints_the_footprint(board):
    result = hil("build", "--board", board, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["board"] == board
    footprint = data["footprint"]
    assert footprint["flash_bytes"] > 4000 and footprint["ram_bytes"] > 150_000
    assert footprint["region_limits"] == {"FLASH": 2_097_152, "RAM": 196_608, "CCM": 65_536}


@pytest.mark.parametrize("transport", ["uart", "semihosting"])
def test_run_on_qemu_matches_the_reference(transport):
    result = hil("run", "--emulate", "qemu", "--transport", transport, "--seed", "3", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["matches_reference"] and data["mismatched_values"] == 0
    assert data["board"] == "mps2-an386" and data["device"]["transport"] == transport
    assert data["timing"]["kind"] == "virtual" and data["timing"]["instructions"] > 1_000_000
    assert data["stack_high_water_bytes"] > 0
    assert data["uart_baud"] is None  # QEMU's UART has no rate; a board's run reports {"baud", "how"}


def test_run_takes_the_uart_start_rate_and_negotiation_switch():
    """On a board these set the link's first rate and whether it moves up; under QEMU the firmware is built at the
    rate and the run passes, which is what can be checked here (tests/link/test_baud_negotiation.py checks the
    negotiation itself)."""
    result = hil("run", "--emulate", "qemu", "--baud-negotiation", "off", "--baud", "57600", "--seed", "3", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["matches_reference"]
    assert "HIL_UART_BAUD 57600u" in (Path(data["footprint"]["elf"]).parent / "hil_build_config.h").read_text()


def test_a_bare_build_at_another_baud_is_small():
    result = hil("build", "--board", "nucleo-f439zi", "--model", "null_model", "--baud", "921600", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["footprint"]["ram_bytes"] < 1024 and data["footprint"]["flash_bytes"] < 16_384
    assert "HIL_UART_BAUD 921600u" in (Path(data["elf"]).parent / "hil_build_config.h").read_text()


def test_run_on_a_board_without_a_probe_says_what_to_check():
    """No probe exists on these machines: the board path must end in pyOCD's own answer and a hint."""
    result = hil("run", "--board", "nucleo-f439zi")
    assert result.returncode == NO_DEVICE
    assert "No available debug probes are connected" in result.stderr and "pyocd list" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_board_is_refused_with_the_choices():
    result = hil("build", "--board", "nucleo-f999")
    assert result.returncode == USAGE_ERROR
    assert "nucleo-f439zi" in result.stderr and "Traceback" not in result.stderr


def test_boards_lists_both_boards():
    result = hil("boards", "--json")
    names = {b["name"] for b in json.loads(result.stdout)["boards"]}
    assert names == {"nucleo-f439zi", "mps2-an386"}


def test_boards_of_a_farm_show_free_locked_by_whom_and_offline(tmp_path):
    from hil.locks.board_lock import BoardLock

    farm = tmp_path / "farm.yaml"
    farm.write_text(
        "boards:\n  - name: qemu-a\n    kind: mps2-an386\n    emulate: qemu\n"
        "  - name: qemu-b\n    kind: mps2-an386\n    emulate: qemu\n"
        "  - name: gone\n    kind: nucleo-f439zi\n    probe_uid: 0670FF\n    serial_port: socket://127.0.0.1:1\n"
    )
    locks = tmp_path / "locks"
    with BoardLock("qemu-b", locks, owner="gw3"):
        result = hil("boards", "--farm", str(farm), "--lock-dir", str(locks), "--json")
    states = {b["name"]: b for b in json.loads(result.stdout)["boards"]}
    assert states["qemu-a"]["state"] == "free"
    assert states["qemu-b"]["state"] == "locked" and "gw3" in states["qemu-b"]["detail"]
    assert states["gone"]["state"] == "offline" and "socket://127.0.0.1:1" in states["gone"]["detail"]
