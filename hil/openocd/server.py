"""OpenOcdServer: one `openocd` that stays attached to the probe with its Tcl port open, for the rtt transport's
memory backend (hil.openocd.tcl_memory). It holds the probe while it runs: one-shot runs (flash, reset) need it
stopped first."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from hil.errors import TargetError
from hil.openocd.commands import INSTALL_HINT, explain_failure

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0


class OpenOcdServer:
    """A running `openocd` (argv from hil.openocd.commands.openocd_command with a tcl_port) and its log file."""

    def __init__(self, argv: Sequence[str], tcl_port: int, log: Path, probe: str | None) -> None:
        self.argv = list(argv)
        self.tcl_port = tcl_port
        self.log = log
        self.probe = probe
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Runs openocd and returns once its Tcl port accepts connections; one line naming OpenOCD's own error
        when it exits first (no probe, a bad config, the port taken), and a timeout rather than a hang."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log, "wb") as log:
                self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        except FileNotFoundError as e:
            raise TargetError(f"{self.argv[0]} is not installed: {INSTALL_HINT}") from e
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self.process.poll() is not None:
                output = self.output()
                self.process = None
                raise TargetError(explain_failure(f"serve the Tcl port {self.tcl_port}", output, self.probe))
            if time.monotonic() > deadline:
                self.stop()
                raise TargetError(
                    f"OpenOCD did not open its Tcl port {self.tcl_port} within {timeout:g} s "
                    f"(probe {self.probe or '(any)'}); its log: {self.log}"
                )
            time.sleep(0.05)

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.tcl_port), timeout=0.2).close()
            return True
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def stop(self) -> None:
        """Ends openocd (SIGTERM, then SIGKILL), which frees the probe for the next run."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        self.process = None
