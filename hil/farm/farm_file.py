"""The farm file: which boards this host (or labgrid) offers, read from YAML into frozen records.

boards:
  - name: f439-a                      # unique; names the lock file
    kind: nucleo-f439zi               # a folder under boards/
    probe_uid: 066DFF575251717867114355
    serial_port: /dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_066DFF575251717867114355-if02
    tags: [camera]
    timeout_multiplier: 1.5
  - name: f439-remote
    kind: nucleo-f439zi
    labgrid_place: lab-f439-1         # the port comes from the place's NetworkSerialPort
    openocd_config: board/st_nucleo_f4.cfg  # for the place's debugger, when not board.toml's
  - name: qemu-1
    kind: mps2-an386
    emulate: qemu
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from hil.board_description import available_boards
from hil.errors import HilError

EMULATORS = ("qemu",)
FIELDS = (
    "name",
    "kind",
    "probe_uid",
    "serial_port",
    "tags",
    "labgrid_place",
    "timeout_multiplier",
    "emulate",
    "openocd_config",
)
PORT_PREFIXES = ("/dev/", "socket://", "rfc2217://")


class FarmFileError(HilError):
    """A farm file that cannot be read, or an entry with a missing or bad field."""


@dataclass(frozen=True)
class FarmBoard:
    """One board of the farm: what it is, how to find its probe and its serial port."""

    name: str
    kind: str
    probe_uid: str | None = None
    serial_port: str | None = None
    tags: frozenset[str] = frozenset()
    labgrid_place: str | None = None
    timeout_multiplier: float = 1.0
    emulate: str | None = None
    openocd_config: str | None = None  # overrides board.toml's for this board's probe or labgrid debugger

    def matches(self, kind: str, tags: Iterable[str] = ()) -> bool:
        return self.kind == kind and set(tags) <= self.tags


@dataclass(frozen=True)
class Farm:
    """Every board of a farm file, in file order."""

    path: Path
    boards: tuple[FarmBoard, ...]

    def board(self, name: str) -> FarmBoard:
        for board in self.boards:
            if board.name == name:
                return board
        raise FarmFileError(f"{self.path}: no board named '{name}'; boards: {', '.join(b.name for b in self.boards)}")

    def matching(self, kind: str, tags: Iterable[str] = ()) -> list[FarmBoard]:
        return [b for b in self.boards if b.matches(kind, tags)]


def load_farm(path: Path, known_kinds: Iterable[str] | None = None) -> Farm:
    """Reads and checks a farm file.

    Args:
        path: the YAML file.
        known_kinds: board kinds allowed; default every folder under boards/.

    Raises:
        FarmFileError: naming the file, the entry and the field.
    """
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise FarmFileError(f"cannot read farm file {path}: {e}") from e
    except yaml.YAMLError as e:
        raise FarmFileError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("boards"), list) or not data["boards"]:
        raise FarmFileError(f"{path}: expected a mapping with a non-empty list 'boards'")
    kinds = set(available_boards() if known_kinds is None else known_kinds)
    boards = tuple(_board(entry, index, path, kinds) for index, entry in enumerate(data["boards"]))
    seen: set[str] = set()
    for board in boards:
        if board.name in seen:
            raise FarmFileError(f"{path}: board name '{board.name}' appears twice; names must be unique")
        seen.add(board.name)
    return Farm(path, boards)


def _board(entry: object, index: int, path: Path, kinds: set[str]) -> FarmBoard:
    where = f"{path}: boards[{index}]"
    if not isinstance(entry, dict):
        raise FarmFileError(f"{where}: expected a mapping of fields, got {entry!r}")
    if isinstance(entry.get("name"), str):
        where += f" ('{entry['name']}')"
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise FarmFileError(f"{where}: unknown field '{unknown[0]}'; fields are {', '.join(FIELDS)}")
    name = _text(entry, "name", where, required=True)
    kind = _text(entry, "kind", where, required=True)
    if kind not in kinds:
        raise FarmFileError(f"{where}: kind '{kind}' is not a board folder; expected one of {', '.join(sorted(kinds))}")
    emulate = _text(entry, "emulate", where)
    if emulate is not None and emulate not in EMULATORS:
        raise FarmFileError(f"{where}: emulate is '{emulate}', expected one of {', '.join(EMULATORS)}")
    serial_port = _text(entry, "serial_port", where)
    if serial_port is not None and not serial_port.startswith(PORT_PREFIXES):
        raise FarmFileError(
            f"{where}: serial_port '{serial_port}' is neither a device path (/dev/serial/by-id/...) nor a "
            "socket:// or rfc2217:// URL"
        )
    probe_uid = _text(entry, "probe_uid", where)
    labgrid_place = _text(entry, "labgrid_place", where)
    if emulate is None and labgrid_place is None and probe_uid is None:
        raise FarmFileError(f"{where}: a board needs probe_uid (or labgrid_place, or emulate: qemu)")
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise FarmFileError(f"{where}: tags is {tags!r}, expected a list of non-empty strings")
    multiplier = entry.get("timeout_multiplier", 1.0)
    if isinstance(multiplier, bool) or not isinstance(multiplier, int | float) or multiplier <= 0:
        raise FarmFileError(f"{where}: timeout_multiplier is {multiplier!r}, expected a number above 0")
    return FarmBoard(
        name=name,
        kind=kind,
        probe_uid=probe_uid,
        serial_port=serial_port,
        tags=frozenset(tags),
        labgrid_place=labgrid_place,
        timeout_multiplier=float(multiplier),
        emulate=emulate,
        openocd_config=_text(entry, "openocd_config", where),
    )


def _text(entry: dict, key: str, where: str, required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    # YAML reads an all-digit probe UID as an int; a UID is text, so say how to quote it.
    if not isinstance(value, str) or not value:
        hint = " (quote it)" if isinstance(value, int | float) else ""
        raise FarmFileError(f"{where}: {key} is {value!r}, expected a non-empty string{hint}")
    return value
