"""LED-timed latency on silicon: a logic analyser records the inference LED with sigrok-cli, and the VCD
it writes is turned into on-intervals (rising edge to falling edge, in seconds of analyser time).

Wiring on the NUCLEO-F439ZI: the firmware lights LD2 (blue) exactly around `model_run`; LD2 is driven
by PB7, active high. PB7 is on the ST morpho connector CN11, pin 21 (UM1974, "ST morpho connector"
table; it is not on the Zio headers). Connect the analyser's channel (D0 by default) to CN11-21 and the
analyser's ground to a GND pin of the board (CN11 pin 19 is GND on Nucleo-144 boards; check the
silkscreen label before wiring). Any 3.3 V logic analyser works: a Cypress FX2 clone runs sigrok's
`fx2lafw` driver at up to 24 MHz; 1 MHz already resolves 1 µs, far below one inference.

This measures wall time on silicon independently of the firmware's own DWT timer, so the two can be
compared; the LED edge costs one GPIO write (a few cycles) at each end.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hil.errors import TargetError

SIGROK = "sigrok-cli"
SIGROK_INSTALL_HINT = "apt-get install -y --no-install-recommends sigrok-cli"
# Per second, so a time is ticks * number / per_second: one correctly rounded division.
_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9, "ps": 10**12, "fs": 10**15}


class CaptureError(TargetError):
    """sigrok-cli failed, or its output is not a VCD with the channel asked for."""


@dataclass(frozen=True)
class LedTrace:
    """One channel of a capture: its level changes in seconds, and where the capture ends."""

    channel: str
    edges: tuple[tuple[float, int], ...]  # (time, level) at time 0 and at every change
    end: float

    def on_intervals(self) -> list[tuple[float, float]]:
        """(rise, fall) of every complete pulse; a pulse cut by either end of the capture is left out."""
        intervals = []
        rise = None
        previous = None
        for time, level in self.edges:
            if level == previous:
                continue
            if level == 1 and previous == 0:
                rise = time
            elif level == 0 and rise is not None:
                intervals.append((rise, time))
                rise = None
            previous = level
        return intervals

    def on_durations(self) -> list[float]:
        return [fall - rise for rise, fall in self.on_intervals()]


def parse_vcd(text: str, channel: str) -> LedTrace:
    """Reads one channel of a sigrok VCD (`-O vcd`): header, then `#time` stamps and `0!`/`1!` changes.

    Raises:
        CaptureError: no timescale, or no such channel.
    """
    header, sep, body = text.partition("$enddefinitions")
    if not sep:
        raise CaptureError("not a VCD file: no $enddefinitions")
    tokens = header.split()
    scale = None
    codes = {}
    for i, token in enumerate(tokens):
        if token == "$timescale":
            scale = _timescale(tokens[i + 1 : tokens.index("$end", i)])
        elif token == "$var" and i + 4 < len(tokens):
            codes[tokens[i + 4]] = tokens[i + 3]  # $var wire 1 <code> <name> $end
    if scale is None:
        raise CaptureError("VCD has no $timescale")
    code = codes.get(channel)
    if code is None:
        raise CaptureError(f"the capture has no channel '{channel}'; channels: {', '.join(codes) or 'none'}")
    edges: list[tuple[float, int]] = []
    now = 0.0
    for token in body.split():
        if token.startswith("#"):
            now = int(token[1:]) * scale[0] / scale[1]
        elif token[:1] in "01xXzZ" and token[1:] == code:
            level = int(token[0]) if token[0] in "01" else -1
            edges.append((now, level))
    return LedTrace(channel, tuple(edges), now)


def _timescale(words: list[str]) -> tuple[int, int]:
    """(number, units per second) of a `$timescale 10 ns $end`."""
    text = "".join(words)
    number = text.rstrip("munpfs")
    unit = text[len(number) :]
    if unit not in _PER_SECOND or not number.isdigit():
        raise CaptureError(f"VCD timescale '{' '.join(words)}' is not a number and a unit (s, ms, us, ns, ps)")
    return int(number), _PER_SECOND[unit]


@dataclass(frozen=True)
class SigrokCapture:
    """One capture of the LED pin with sigrok-cli, written as VCD.

    Attributes:
        driver: sigrok driver (`sigrok-cli --list-supported`), e.g. "fx2lafw", or "demo" for a dry run.
        channel: the analyser channel wired to PB7.
        samplerate_hz: samples per second.
        duration_s: how long to record.
        executable: sigrok-cli, or a path to it.
    """

    driver: str = "fx2lafw"
    channel: str = "D0"
    samplerate_hz: int = 1_000_000
    duration_s: float = 5.0
    executable: str = SIGROK

    def command(self, output: Path) -> list[str]:
        samples = max(1, round(self.samplerate_hz * self.duration_s))
        return [
            self.executable,
            *("--driver", self.driver, "--channels", self.channel),
            *("--config", f"samplerate={self.samplerate_hz}", "--samples", str(samples)),
            *("-O", "vcd", "-o", str(output)),
        ]

    def start(self, output: Path) -> RunningCapture:
        """Starts recording in the background; run the inferences, then call `wait()`."""
        executable = shutil.which(self.executable)
        if executable is None:
            raise CaptureError(f"{self.executable} is not on PATH; install it with: {SIGROK_INSTALL_HINT}")
        output.parent.mkdir(parents=True, exist_ok=True)
        command = [executable, *self.command(output)[1:]]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return RunningCapture(self, output, process)

    def run(self, output: Path, timeout: float | None = None) -> LedTrace:
        """Records for `duration_s` and returns the trace; `timeout` defaults to duration + 30 s of start-up."""
        return self.start(output).wait(timeout)


@dataclass
class RunningCapture:
    """A sigrok-cli process recording to `output`."""

    capture: SigrokCapture
    output: Path
    process: subprocess.Popen

    def wait(self, timeout: float | None = None) -> LedTrace:
        """Waits for the capture to end and parses it.

        Raises:
            CaptureError: sigrok-cli failed, outlived `timeout` (it is then killed), or wrote no VCD.
        """
        timeout = self.capture.duration_s + 30.0 if timeout is None else timeout
        try:
            said, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            said, _ = self.process.communicate(timeout=5)
            raise CaptureError(f"sigrok-cli ran past {timeout:g} s and was killed; it said: {said.strip()}") from None
        if self.process.returncode != 0 or not self.output.is_file():
            raise CaptureError(
                f"sigrok-cli (driver {self.capture.driver}) exited with {self.process.returncode}: {said.strip()}; "
                "check the analyser with `sigrok-cli --scan`"
            )
        return parse_vcd(self.output.read_text(), self.capture.channel)
