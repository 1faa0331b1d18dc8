"""Board descriptions: the `board.toml` in each folder under `boards/`, read into a typed record."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hil.errors import BoardDescriptionError, BoardNotFoundError
from hil.paths import BOARDS_DIR


@dataclass(frozen=True)
class MemoryRegion:
    """One region of the linker script: where it starts and how many bytes it holds."""

    name: str
    origin: int
    size: int

    def contains(self, address: int) -> bool:
        return self.origin <= address < self.origin + self.size


@dataclass(frozen=True)
class BoardDescription:
    """What the harness knows about a board: memory, budgets, clock, how to load and reach it."""

    name: str
    directory: Path
    description: str
    cpu: str
    fpu: str
    has_dsp: bool
    core_clock_hz: int
    linker_script: Path
    sources: tuple[Path, ...]
    memory: dict[str, MemoryRegion]
    flash_budget: int
    ram_budget: int
    uart_name: str
    baud: int
    led_inference: str
    timer_kind: str
    stand_in_for: str | None = None
    pyocd_target: str | None = None
    openocd_config: str | None = None  # OpenOCD config of the board, e.g. board/st_nucleo_f4.cfg
    qemu_machine: str | None = None
    baud_rates: tuple[int, ...] = ()  # [uart] rates: what the link may move to after it starts at baud
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_emulated(self) -> bool:
        return self.qemu_machine is not None

    def region_of(self, address: int) -> MemoryRegion | None:
        """The memory region an address falls in, or None."""
        return next((r for r in self.memory.values() if r.contains(address)), None)


def _get(table: dict, key: str, kind: type | tuple[type, ...], where: str):
    if key not in table:
        raise BoardDescriptionError(f"{where}: missing key '{key}'")
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BoardDescriptionError(f"{where}: '{key}' is {value!r}, expected {getattr(kind, '__name__', kind)}")
    return value


def _baud_rates(uart: dict, where: str) -> tuple[int, ...]:
    """[uart] rates, sorted: every rate the board's UART may be moved to; the default baud when absent."""
    rates = uart.get("rates", [uart.get("baud")])
    if not isinstance(rates, list) or not all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in rates):
        raise BoardDescriptionError(f"{where}: 'rates' is {rates!r}, expected a list of positive integers (baud)")
    if uart.get("baud") not in rates:
        raise BoardDescriptionError(f"{where}: 'rates' {rates} leaves out the default baud {uart.get('baud')}")
    return tuple(sorted(set(rates)))


def available_boards() -> list[str]:
    """Names of every board with a board.toml."""
    return sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.toml"))


def load_board(name: str) -> BoardDescription:
    """Reads boards/<name>/board.toml."""
    path = BOARDS_DIR / name / "board.toml"
    if not path.is_file():
        raise BoardNotFoundError(f"no board named '{name}': expected one of {', '.join(available_boards())}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise BoardDescriptionError(f"{path}: not valid TOML: {e}") from e
    where = str(path)
    memory_table = _get(data, "memory", dict, where)
    memory = {
        region: MemoryRegion(
            region,
            _get(spec, "origin", int, f"{where} [memory.{region}]"),
            _get(spec, "size", int, f"{where} [memory.{region}]"),
        )
        for region, spec in memory_table.items()
    }
    for required in ("FLASH", "RAM", "CCM"):
        if required not in memory:
            raise BoardDescriptionError(f"{where}: [memory.{required}] is missing; the linker scripts need it")
    budget = _get(data, "budget", dict, where)
    uart = _get(data, "uart", dict, where)
    led = _get(data, "led", dict, where)
    timer = _get(data, "timer", dict, where)
    emulator = data.get("emulator", {})
    qemu_machine = emulator.get("qemu", {}).get("machine") or None
    directory = path.parent
    board = BoardDescription(
        name=_get(data, "name", str, where),
        directory=directory,
        description=_get(data, "description", str, where),
        cpu=_get(data, "cpu", str, where),
        fpu=_get(data, "fpu", str, where),
        has_dsp=_get(data, "has_dsp", bool, where),
        core_clock_hz=_get(data, "core_clock_hz", int, where),
        linker_script=directory / _get(data, "linker_script", str, where),
        sources=tuple(directory / s for s in _get(data, "sources", list, where)),
        memory=memory,
        flash_budget=_get(budget, "flash_bytes", int, f"{where} [budget]"),
        ram_budget=_get(budget, "ram_bytes", int, f"{where} [budget]"),
        uart_name=_get(uart, "name", str, f"{where} [uart]"),
        baud=_get(uart, "baud", int, f"{where} [uart]"),
        led_inference=_get(led, "inference", str, f"{where} [led]"),
        timer_kind=_get(timer, "kind", str, f"{where} [timer]"),
        stand_in_for=data.get("stand_in_for") or None,
        pyocd_target=data.get("pyocd_target") or None,
        openocd_config=data.get("openocd_config") or None,
        qemu_machine=qemu_machine,
        baud_rates=_baud_rates(uart, f"{where} [uart]"),
        raw=data,
    )
    if board.name != name:
        raise BoardDescriptionError(f"{where}: name is '{board.name}' but the folder is '{name}'")
    for source in (board.linker_script, *board.sources):
        if not source.is_file():
            raise BoardDescriptionError(f"{where}: names {source.name}, which is not in {directory}")
    return board


def qemu_stand_in(name: str) -> BoardDescription:
    """The board itself if QEMU runs it, else the board that stands in for it under QEMU."""
    board = load_board(name)
    if board.qemu_machine:
        return board
    for other in available_boards():
        candidate = load_board(other)
        if candidate.stand_in_for == name and candidate.qemu_machine:
            return candidate
    raise BoardNotFoundError(f"board '{name}' has no QEMU machine and no board under boards/ stands in for it")
