"""Target kinds by name. Each kind registers a builder where it is defined (`@register_target("qemu-uart")`,
as labgrid's target_factory registers drivers), and the factory asks for a kind by name instead of knowing
every class."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hil.board_description import BoardDescription
from hil.errors import TargetError
from hil.targets.base import Target

if TYPE_CHECKING:
    from hil.targets.labgrid_board import RemotePlace


@dataclass(frozen=True)
class TargetRequest:
    """What a kind's builder gets: the board the image was built for, the image, a work folder, and the
    run's choices that some kinds use (a port, a probe, the transport, where probe locks live, a lab's place)."""

    description: BoardDescription
    elf: Path
    workdir: Path
    run_timeout: float
    port: str | None = None
    probe: str | None = None
    transport: str = "uart"
    lock_dir: Path | None = None
    place: RemotePlace | None = None  # a lab's place (kind 'labgrid'), injected by the farm side
    acquire_timeout: float = 600.0
    baud_negotiation: bool = True  # UART board targets move to the fastest of the board's `[uart] rates`


TargetBuilder = Callable[[TargetRequest], Target]
_KINDS: dict[str, TargetBuilder] = {}


def register_target(kind: str) -> Callable[[TargetBuilder], TargetBuilder]:
    """Registers the decorated builder under kind; a kind registered twice is a programming error."""

    def register(builder: TargetBuilder) -> TargetBuilder:
        if kind in _KINDS and _KINDS[kind] is not builder:
            raise TargetError(f"target kind '{kind}' is registered twice")
        _KINDS[kind] = builder
        return builder

    return register


def _load_kinds() -> None:
    """Imports every module of hil.targets once, so each kind has registered itself."""
    import hil.targets

    for module in pkgutil.iter_modules(hil.targets.__path__):
        importlib.import_module(f"hil.targets.{module.name}")


def target_kinds() -> list[str]:
    """Every registered kind, sorted."""
    _load_kinds()
    return sorted(_KINDS)


def create_target(kind: str, request: TargetRequest) -> Target:
    """A target of the named kind, or one line naming the kinds there are."""
    _load_kinds()
    if kind not in _KINDS:
        raise TargetError(f"unknown target kind '{kind}'; expected one of {', '.join(sorted(_KINDS))}")
    return _KINDS[kind](request)
