"""The session's device under test, and the options that chose it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
from hil.catalog import model_sources
from hil.dut import Dut
from hil.errors import HilError, TargetError
from hil.plugin.options import HilOptions, options_from_config
from hil.plugin.progress import compiler_progress, progress
from hil.plugin.results_fixture import recorder
from hil.plugin.worker_errors import stop_for_no_device
from hil.target_factory import TargetChoice, build_description, open_dut


@pytest.fixture(scope="session")
def hil_options(pytestconfig: pytest.Config) -> HilOptions:
    return options_from_config(pytestconfig)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Builds the firmware before the first test when any test needs the device, and says what it is."""
    if session.config.option.collectonly or not any(
        "dut" in getattr(item, "fixturenames", ()) for item in session.items
    ):
        return  # --collect-only builds nothing
    options = options_from_config(session.config)
    if options.farm:
        return  # the board, and so the image, is known only once a worker holds one
    for model in options.models:
        progress(session.config, f"hil: compiling {model} (unless cached) and building its firmware")
        try:
            with compiler_progress(session.config):
                sources = model_sources(model)
            description = build_description(options.board, options.emulate)
            image = FirmwareBuilder().build(BuildRequest(description, sources, options.transport, baud=options.baud))
        except HilError as e:
            progress(session.config, f"hil: no firmware for {model}: {e}")
            continue
        recorder(session.config).update_metadata(
            **{f"firmware_build_id:{model}": image.build_id, f"model_hash:{model}": sources.hash},
            target_board=image.board,
        )
        progress(
            session.config,
            f"hil: firmware {image.build_id[:12]} for {image.board} ({image.transport}), "
            f"model {sources.name} {sources.hash}, flash {image.footprint.flash_bytes:,} B, "
            f"static RAM {image.footprint.static_ram_bytes:,} B",
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """With several models, every test that needs the device runs once per model, grouped by model."""
    models = options_from_config(metafunc.config).models
    if "hil_model_name" in metafunc.fixturenames and len(models) > 1:
        metafunc.parametrize("hil_model_name", models, scope="session", ids=models)


@pytest.fixture(scope="session")
def hil_model_name(hil_options: HilOptions) -> str:
    """The model of this test: the run's only model (several models parametrize this fixture)."""
    return hil_options.models[0]


@pytest.fixture(scope="session")
def dut(
    hil_options: HilOptions,
    hil_model_name: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Dut]:
    """The device under test: firmware built for the model, loaded and answering, for the whole session."""
    choice = TargetChoice(
        hil_options.board,
        hil_options.emulate,
        hil_options.transport,
        probe=hil_options.probe,
        port=hil_options.port,
        baud=hil_options.baud,
        farm=hil_options.farm,
        lock_dir=hil_options.lock_dir,
        owner=os.environ.get("PYTEST_XDIST_WORKER", "main"),
        run_timeout=hil_options.run_timeout,
        labgrid_coordinator=hil_options.labgrid_coordinator,
        flasher=hil_options.flasher,
        baud_negotiation=hil_options.baud_negotiation,
    )
    try:
        with compiler_progress(request.config):  # a farm run compiles here, once a worker holds a board
            sources = model_sources(hil_model_name)
        device = open_dut(choice, sources, tmp_path_factory.mktemp("dut"))
    except TargetError as e:
        stop_for_no_device(request.config, f"hil: no device under test: {e}")
    except HilError as e:
        pytest.fail(f"hil: no device under test: {e}", pytrace=False)
    # This process's xdist worker, from its config: the environment variable also reaches runs it starts.
    worker = getattr(request.config, "workerinput", {}).get("workerid")
    if device.farm_board:
        recorder(request.config).update_metadata(**{f"board_{worker or 'main'}": device.farm_board})
    if device.target.uart_rate is not None:
        # Per worker, as the farm board above: each worker's board negotiates its own rate.
        recorder(request.config).update_metadata(
            **{f"uart_baud_{worker}" if worker else "uart_baud": str(device.target.uart_rate)}
        )
    yield device
    device.close()
