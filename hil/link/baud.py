"""UART rate negotiation: from the rate the firmware starts at to the highest rate of the board's
`[uart] rates` (board.toml) that passes a verified echo burst, falling back on errors.

The device answers SET_BAUD at the old rate, then holds the new one on trial: it keeps it only when SET_BAUD
for that rate arrives again (the host's commit, after the burst came back exact) and returns to the old rate
by itself after BAUD_TRIAL_MS otherwise. So a failed burst needs nothing from the device: the host moves its
port back and waits out the trial."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hil.errors import DeviceError, LinkError
from hil.link.device_link import DeviceLink
from hil.link.messages import BAUD_TRIAL_S, ERR_BAD_ARGUMENT, ERR_UNKNOWN_TYPE

LOG = logging.getLogger(__name__)
ECHO_FRAMES = 16
ECHO_BYTES = 64
# Counters that any damage moves: the burst passes only when none of them did.
DAMAGE_COUNTERS = ("timeouts", "corrupt_frames", "device_rejected", "resends")


def echo_burst(link: DeviceLink, rng: random.Random) -> bool:
    """Whether ECHO_FRAMES PINGs of ECHO_BYTES random bytes each came back exact at the first try."""
    before = link.counters.to_dict()
    try:
        for _ in range(ECHO_FRAMES):
            link.ping(rng.randbytes(ECHO_BYTES))
    except LinkError as e:
        LOG.info("%s: echo burst failed: %s", link.name, e)
        return False
    after = link.counters.to_dict()
    damage = {name: after[name] - before[name] for name in DAMAGE_COUNTERS if after[name] != before[name]}
    if damage:
        LOG.info("%s: echo burst came back, but not cleanly: %s", link.name, damage)
    return not damage


def _settle(link: DeviceLink, rates: Sequence[int]) -> int:
    """The first of rates at which the device answers a PING, after its trial has had time to end."""
    time.sleep(BAUD_TRIAL_S)
    for rate in rates:
        link.move_port(rate)
        try:
            link.ping()
            return rate
        except LinkError as e:
            LOG.info("%s: no answer at %d baud: %s", link.name, rate, e)
    raise LinkError(f"{link.name}: the device answers at none of {', '.join(map(str, rates))} baud after a rate trial")


def _try_rate(link: DeviceLink, start: int, rate: int, rng: random.Random) -> int:
    """The rate the link runs at after trying rate: rate itself when the burst passed and the commit was
    answered, else (normally) start."""
    try:
        link.set_baud(rate)
    except DeviceError as e:
        # UNKNOWN_TYPE: firmware from before SET_BAUD, which stays at its one rate.
        if e.code not in (ERR_BAD_ARGUMENT, ERR_UNKNOWN_TYPE):
            raise
        LOG.info("%s: the device cannot run its UART at %d baud: %s", link.name, rate, e.text)
        return start
    except LinkError as e:
        LOG.info("%s: SET_BAUD %d got no answer (%s); falling back", link.name, rate, e)
        return _settle(link, (start, rate))
    link.move_port(rate)
    if echo_burst(link, rng):
        try:
            link.set_baud(rate)
            return rate
        except LinkError as e:
            # The commit may have arrived with only its answer lost: then the device stays at rate.
            LOG.info("%s: the commit of %d baud got no answer (%s)", link.name, rate, e)
            return _settle(link, (start, rate))
    return _settle(link, (start, rate))


def negotiate_baud(link: DeviceLink, start: int, rates: Sequence[int], seed: int = 0) -> int:
    """Moves the link from start to the highest of rates (above start) whose echo burst passes; the rate used."""
    rng = random.Random(seed)
    for rate in sorted((r for r in rates if r > start), reverse=True):
        if _try_rate(link, start, rate, rng) == rate:
            LOG.info("%s: %d baud passed its echo burst and is committed (up from %d)", link.name, rate, start)
            return rate
    LOG.info("%s: UART stays at %d baud (no faster rate of %s passed its echo burst)", link.name, start, list(rates))
    return start


@dataclass(frozen=True)
class UartRate:
    """The rate a UART link runs at and how it was chosen, as the log and the run's report say it."""

    baud: int
    how: str

    def __str__(self) -> str:
        return f"{self.baud} baud ({self.how})"


def settle_uart(link: DeviceLink, start: int, rates: Sequence[int], negotiate: bool) -> UartRate:
    """The link's rate after start: negotiated (negotiate_baud) when asked to and rates hold a faster one."""
    if not negotiate:
        return UartRate(start, "negotiation off")
    if not any(rate > start for rate in rates):
        return UartRate(start, "the board lists no faster rate")
    rate = negotiate_baud(link, start, rates)
    return UartRate(rate, f"negotiated up from {start}" if rate != start else "no faster rate passed its echo burst")
