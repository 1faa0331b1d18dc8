"""The pytest plugin: options that choose the target, and a `dut` fixture with the firmware loaded.

Installed as the `pytest11` entry point `hil.plugin`, and registered by the root conftest.py for
runs from a checkout.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from hil.board_description import available_boards
from hil.build.firmware_builder import TRANSPORTS
from hil.build.toolchain import arm_toolchain, qemu_version
from hil.dut import EMULATORS, Dut, open_dut
from hil.errors import HilError
from hil.model_catalog import model_sources
from hil.targets.qemu import QEMU


@dataclass(frozen=True)
class HilOptions:
    """The run's target choice, as the command line and ini file gave it."""

    board: str
    emulate: str | None
    transport: str
    model: str
    run_timeout: float


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop")
    group.addoption("--board", default=None, help=f"board kind: one of {', '.join(available_boards())}")
    group.addoption(
        "--emulate",
        default=None,
        choices=[*EMULATORS, "auto"],
        help="run under an emulator instead of a board; auto picks QEMU when it is installed",
    )
    group.addoption("--hil-transport", default=None, choices=TRANSPORTS, help="how inputs and outputs move")
    group.addoption("--model", default=None, help="the model to build the firmware around")
    group.addoption("--hil-run-timeout", default=None, type=float, help="seconds one inference may take")
    parser.addini("hil_board", "default board kind", default="nucleo-f439zi")
    parser.addini("hil_emulate", "default emulator (qemu, auto) when --emulate is not given", default="")
    parser.addini("hil_transport", "default transport", default="uart")
    parser.addini("hil_model", "default model", default="conv_test_model")
    parser.addini("hil_run_timeout", "default seconds one inference may take", default="120")


def _options(config: pytest.Config) -> HilOptions:
    emulate = config.getoption("--emulate") or config.getini("hil_emulate") or None
    if emulate == "auto":
        emulate = "qemu" if shutil.which(QEMU) else None
    return HilOptions(
        board=config.getoption("--board") or config.getini("hil_board"),
        emulate=emulate,
        transport=config.getoption("--hil-transport") or config.getini("hil_transport"),
        model=config.getoption("--model") or config.getini("hil_model"),
        run_timeout=config.getoption("--hil-run-timeout") or float(config.getini("hil_run_timeout")),
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    options = _options(config)
    where = f"emulator {options.emulate}" if options.emulate else "board (no emulator)"
    lines = [f"hil: board {options.board} on {where}, model {options.model}, transport {options.transport}"]
    try:
        lines.append(f"hil: toolchain {arm_toolchain().version}")
    except HilError as e:
        lines.append(f"hil: {e}")
    if options.emulate == "qemu" and shutil.which(QEMU):
        lines.append(f"hil: {qemu_version(QEMU)}")
    return lines


@pytest.fixture(scope="session")
def hil_options(pytestconfig: pytest.Config) -> HilOptions:
    return _options(pytestconfig)


@pytest.fixture(scope="session")
def dut(hil_options: HilOptions, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dut]:
    """The device under test: firmware built for the model, loaded and answering, for the whole session."""
    try:
        device = open_dut(
            hil_options.board,
            hil_options.emulate,
            model_sources(hil_options.model),
            tmp_path_factory.mktemp("dut"),
            transport=hil_options.transport,
            run_timeout=hil_options.run_timeout,
        )
    except HilError as e:
        pytest.fail(f"hil: no device under test: {e}", pytrace=False)
    yield device
    device.close()
