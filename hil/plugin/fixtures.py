"""The session's device under test, and the options that chose it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
from hil.dut import Dut, open_dut, resolve_board
from hil.errors import HilError
from hil.model_catalog import model_sources
from hil.plugin.options import HilOptions, options_from_config
from hil.plugin.results_fixture import recorder


@pytest.fixture(scope="session")
def hil_options(pytestconfig: pytest.Config) -> HilOptions:
    return options_from_config(pytestconfig)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Builds the firmware before the first test when any test needs the device, and says what it is."""
    if not any("dut" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    options = options_from_config(session.config)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    try:
        sources = model_sources(options.model)
        image = FirmwareBuilder().build(
            BuildRequest(resolve_board(options.board, options.emulate), sources, options.transport, baud=options.baud)
        )
    except HilError as e:
        if reporter:
            reporter.write_line(f"hil: no firmware: {e}")
        return
    recorder(session.config).update_metadata(
        firmware_build_id=image.build_id, model_hash=sources.hash, target_board=image.board
    )
    if reporter:
        reporter.write_line(
            f"hil: firmware {image.build_id[:12]} for {image.board} ({image.transport}), "
            f"model {sources.name} {sources.hash}, flash {image.footprint.flash_bytes:,} B, "
            f"static RAM {image.footprint.static_ram_bytes:,} B"
        )


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
