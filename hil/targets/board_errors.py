"""Errors of targets on real boards: each names what was wrong, what was expected, and how to check it."""

from __future__ import annotations

from hil.errors import TargetError


class NoProbeError(TargetError):
    """pyOCD sees no debug probe at all."""


class ProbeNotFoundError(TargetError):
    """A probe was asked for by unique ID and no connected probe has it."""


class NoFreeProbeError(TargetError):
    """Probes are connected, but none of the right kind is free."""


class WrongChipError(TargetError):
    """The probe is wired to another part, or the image was built for another board."""


class StaleFirmwareError(TargetError):
    """The board runs an image other than the one just flashed."""


class FlashVerifyError(TargetError):
    """Flash read back differs from the ELF's loadable bytes."""


class NoComPortError(TargetError):
    """The probe shows no virtual COM port (or more than one and none was named)."""


class PortBusyError(TargetError):
    """The board's serial port exists but another program holds it."""


class BoardHungError(TargetError):
    """The board stopped answering and neither a reset nor a reflash brought it back."""
