"""Choosing a debug probe and the serial port that belongs to it, by USB serial number, never by index.

Pure functions over plain records, so they run without pyOCD or hardware: the pyOCD side only has to
describe each probe as a `ProbeInfo`, and pyserial's `comports()` already gives `ListPortInfo`s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hil.targets.board_errors import NoComPortError, NoFreeProbeError, NoProbeError, ProbeNotFoundError, WrongChipError

NO_PROBE_HINT = (
    "pyOCD says: No available debug probes are connected. Check the USB cable (the ST-LINK's USB, CN1 on a "
    "Nucleo-144), that `pyocd list` shows the probe, and that this user may open it (udev rules from pyOCD's "
    "udev/ folder, or run as a user in plugdev)"
)

# STM32 part names as pyOCD spells them: family, pin-count letter, flash-size letter, then package/temperature.
# "x" stands for any pin count, so stm32f439xi (built-in target) and stm32f439zitx (the Nucleo's board ID) match.
_STM32_PART = re.compile(r"^(stm32[a-z]\d+)([a-z])([a-z0-9])")


@dataclass(frozen=True)
class ProbeInfo:
    """What pyOCD reports about one connected probe, before opening it."""

    unique_id: str
    description: str
    vendor: str = ""
    product: str = ""
    board_name: str | None = None  # from the probe's board ID, e.g. "NUCLEO-F439ZI"
    target: str | None = None  # pyOCD target type that board ID names, e.g. "stm32f439zitx"

    @property
    def is_stlink(self) -> bool:
        text = f"{self.vendor} {self.product} {self.description}".lower().replace("-", "")
        return "stlink" in text

    def summary(self) -> str:
        board = f", board {self.board_name}" if self.board_name else ""
        return f"{self.unique_id} ({self.description}{board}, target {self.target or 'unknown'})"


class SerialPortInfo(Protocol):
    """The fields of pyserial's ListPortInfo this module reads."""

    device: str
    serial_number: str | None
    description: str
    location: str | None


def same_part(a: str | None, b: str | None) -> bool:
    """Whether two pyOCD target names are the same silicon (an STM32's family and flash size), else equal names."""
    if not a or not b:
        return False
    a, b = a.lower(), b.lower()
    ma, mb = _STM32_PART.match(a), _STM32_PART.match(b)
    if ma and mb:
        pins_match = "x" in (ma.group(2), mb.group(2)) or ma.group(2) == mb.group(2)
        return ma.group(1) == mb.group(1) and ma.group(3) == mb.group(3) and pins_match
    return a == b


def select_probe(
    probes: Sequence[ProbeInfo],
    pyocd_target: str,
    unique_id: str | None = None,
    claim: Callable[[ProbeInfo], bool] = lambda probe: True,
) -> ProbeInfo:
    """The probe with this unique ID, or the first free ST-LINK whose board is a `pyocd_target`.

    Args:
        probes: every connected probe.
        pyocd_target: the board's pyOCD target type (board.toml `pyocd_target`).
        unique_id: the probe asked for; an exact match wins, else a unique substring (as `pyocd -u` does).
        claim: tries to reserve a probe for this process; False when another process holds it.

    Raises:
        NoProbeError, ProbeNotFoundError, WrongChipError, NoFreeProbeError.
    """
    if not probes:
        raise NoProbeError(NO_PROBE_HINT)
    if unique_id is not None:
        probe = _by_unique_id(probes, unique_id)
        if probe.target and not same_part(probe.target, pyocd_target):
            raise WrongChipError(
                f"probe {probe.summary()} sits on a board with target {probe.target}, but this run needs "
                f"{pyocd_target}: pick the probe of the right board (`pyocd list` shows each probe's target)"
            )
        if not claim(probe):
            raise NoFreeProbeError(f"probe {probe.summary()} is in use by another process")
        return probe
    fitting = [p for p in probes if p.is_stlink and same_part(p.target, pyocd_target)]
    for probe in fitting:
        if claim(probe):
            return probe
    seen = "; ".join(p.summary() for p in probes)
    if fitting:
        raise NoFreeProbeError(f"every ST-LINK probe on a {pyocd_target} board is in use by another process: {seen}")
    raise NoFreeProbeError(
        f"no connected probe is an ST-LINK on a {pyocd_target} board; probes seen: {seen}. "
        "Name the probe by its unique ID if its board ID is unknown to pyOCD"
    )


def _by_unique_id(probes: Sequence[ProbeInfo], unique_id: str) -> ProbeInfo:
    wanted = unique_id.lower()
    exact = [p for p in probes if p.unique_id.lower() == wanted]
    partial = exact or [p for p in probes if wanted in p.unique_id.lower()]
    if len(partial) == 1:
        return partial[0]
    seen = ", ".join(p.unique_id for p in probes)
    if not partial:
        raise ProbeNotFoundError(f"no connected probe has unique ID '{unique_id}'; unique IDs seen: {seen}")
    raise ProbeNotFoundError(f"unique ID '{unique_id}' matches several probes ({seen}): give the whole ID")


def find_com_port(probe: ProbeInfo, ports: Iterable[SerialPortInfo], explicit: str | None = None) -> str:
    """The virtual COM port whose USB serial number is the probe's unique ID.

    Args:
        probe: the chosen probe.
        ports: pyserial's `serial.tools.list_ports.comports()` (or a stand-in).
        explicit: a port named in the farm file; checked against the probe when the system lists it.

    Raises:
        NoComPortError: no port (or several) has the probe's serial number, or `explicit` belongs to another probe.
    """
    ports = list(ports)
    mine = [p for p in ports if (p.serial_number or "").lower() == probe.unique_id.lower()]
    if explicit is not None:
        real = os.path.realpath(explicit) if explicit.startswith("/") else explicit
        listed = [p for p in ports if os.path.realpath(p.device) == real or p.device == explicit]
        if listed and listed[0] not in mine:
            raise NoComPortError(
                f"{explicit} is the port of USB serial number {listed[0].serial_number or 'unknown'}, not of "
                f"probe {probe.unique_id}: the farm file pairs this probe with another board's port"
            )
        return explicit
    if len(mine) == 1:
        return mine[0].device
    seen = "; ".join(f"{p.device} (serial {p.serial_number or 'none'})" for p in ports) or "none"
    if not mine:
        raise NoComPortError(
            f"probe {probe.unique_id} shows no virtual COM port; serial ports seen: {seen}. On a Nucleo the ST-LINK's "
            "VCP needs ST-LINK firmware V2J2xM or later (update it with STM32CubeProgrammer) and the cdc_acm driver"
        )
    raise NoComPortError(
        f"probe {probe.unique_id} has several serial ports ({', '.join(p.device for p in mine)}): "
        "name the one wired to the target's UART as serial_port"
    )
