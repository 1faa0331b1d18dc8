"""From what a user asked for (a board kind or a farm board, an emulator or silicon) to a started
device under test: allocate and lock the board, build the firmware, pick the target, start it."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from hil.board_description import BoardDescription, load_board, qemu_stand_in
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder, FirmwareImage
from hil.dut import Dut
from hil.errors import HilError, TargetError
from hil.farm.allocator import BoardAllocator
from hil.farm.farm_file import FarmBoard, load_farm
from hil.farm.labgrid_place import LabgridPlace
from hil.locks.board_lock import BoardLock
from hil.model_sources import ModelSources
from hil.targets.base import Target
from hil.targets.registry import TargetRequest, create_target

EMULATORS = ("qemu", "renode")
FLASHERS = ("pyocd", "openocd")


@dataclass(frozen=True)
class TargetChoice:
    """What the run asked for. `board` is a board kind, or the name of a board in the farm file."""

    board: str
    emulate: str | None = None
    transport: str = "uart"
    probe: str | None = None
    port: str | None = None
    baud: int | None = None
    farm: Path | None = None
    lock_dir: Path | None = None
    owner: str = ""
    allocate_timeout: float = 600.0
    run_timeout: float = 120.0
    labgrid_coordinator: str | None = None
    flasher: str = "pyocd"
    baud_negotiation: bool = True


def _farm_board(choice: TargetChoice, resources: ExitStack) -> FarmBoard | None:
    """Locks a farm board for this process (by name, or the first free one of the kind)."""
    if choice.farm is None:
        return None
    farm = load_farm(choice.farm)
    named = next((b for b in farm.boards if b.name == choice.board), None)
    if named is not None:
        lock = BoardLock(named.name, choice.lock_dir, owner=choice.owner)
        lock.acquire(timeout=choice.allocate_timeout)
        resources.callback(lock.release)
        return named
    allocation = BoardAllocator(farm, choice.lock_dir, owner=choice.owner).allocate(
        choice.board, timeout=choice.allocate_timeout
    )
    resources.callback(allocation.release)
    return allocation.board


def build_description(kind: str, emulate: str | None) -> BoardDescription:
    """The board the firmware is built for: the QEMU stand-in under QEMU, the board itself otherwise."""
    if emulate is not None and emulate not in EMULATORS:
        raise TargetError(f"emulator '{emulate}' is not one of {', '.join(EMULATORS)}")
    return qemu_stand_in(kind) if emulate == "qemu" else load_board(kind)


def target_kind(emulate: str | None, transport: str, port: str | None, flasher: str = "pyocd") -> str:
    """The registered kind that runs a build: an emulator's, a running device's port, or a board's flasher."""
    if emulate == "qemu":
        # A port given means a QEMU someone else started with this image: only its UART is ours.
        return "serial-port" if port else f"qemu-{transport}"
    if emulate == "renode":
        return "renode"
    if flasher not in FLASHERS:
        raise TargetError(f"flasher '{flasher}' is not one of {', '.join(FLASHERS)}")
    return flasher


def _target(
    choice: TargetChoice,
    farm_board: FarmBoard | None,
    description: BoardDescription,
    image: FirmwareImage,
    workdir: Path,
) -> Target:
    multiplier = farm_board.timeout_multiplier if farm_board else 1.0
    if farm_board and farm_board.openocd_config:
        description = replace(description, openocd_config=farm_board.openocd_config)
    request = TargetRequest(
        description,
        image.elf,
        workdir,
        run_timeout=choice.run_timeout * multiplier,
        port=(farm_board.serial_port if farm_board else None) or choice.port,
        probe=(farm_board.probe_uid if farm_board else None) or choice.probe,
        transport=choice.transport,
        lock_dir=choice.lock_dir,
        baud_negotiation=choice.baud_negotiation,
    )
    if farm_board and farm_board.labgrid_place:
        place = LabgridPlace(farm_board.labgrid_place, choice.labgrid_coordinator, user=choice.owner or None)
        return create_target("labgrid", replace(request, place=place, acquire_timeout=choice.allocate_timeout))
    emulate = (farm_board.emulate if farm_board else None) or choice.emulate
    return create_target(target_kind(emulate, choice.transport, request.port, choice.flasher), request)


def open_dut(choice: TargetChoice, model: ModelSources, workdir: Path, builder: FirmwareBuilder | None = None) -> Dut:
    """Builds the firmware for the model, starts it on the chosen target, and checks it answers."""
    resources = ExitStack()
    try:
        farm_board = _farm_board(choice, resources)
        kind = farm_board.kind if farm_board else choice.board
        emulate = (farm_board.emulate if farm_board else None) or choice.emulate
        description = build_description(kind, emulate)
        if choice.baud:
            # The host opens the port at the rate the firmware is built for: both ends read board.baud.
            description = replace(description, baud=choice.baud)
        request = BuildRequest(description, model, choice.transport)
        image = (builder or FirmwareBuilder()).build(request)
        target = _target(choice, farm_board, description, image, workdir)
        info = target.start()
        resources.callback(target.stop)
        if info.model_hash != model.hash:
            raise TargetError(f"the device runs model hash {info.model_hash}, expected {model.hash} ({model.name})")
    except HilError:
        resources.close()
        raise
    return Dut(target, image, info, resources, farm_board.name if farm_board else None)
