"""LabgridPlace: reserve a board on a labgrid coordinator with `labgrid-client`, and find its serial port.

labgrid is the distributed engine for boards on many hosts; this module only drives its command line:
`labgrid-client -x COORDINATOR -p PLACE acquire | release | show`. `acquire` does not wait, so waiting
is a polled loop with a deadline. labgrid tells users apart by LG_USERNAME/LG_HOSTNAME: give each
pytest-xdist worker its own `user` and labgrid itself keeps two workers off one place.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hil.errors import HilError
from hil.openocd.commands import labgrid_load_commands

CLIENT = "labgrid-client"
INSTALL_HINT = "pip install labgrid==26.0.1"
# `show` prints each resource as a header line, then its attributes as an indented Python dict.
_RESOURCE = re.compile(r"^(Acquired|Matching) resource '([^']*)' \(([^)]*)\):\n((?:[ \t]+.*\n?)+)", re.MULTILINE)
_BUSY = ("already acquired", "acquired by a different user")
DEBUGGER = "NetworkUSBDebugger"
BOARD_CONFIGS = "board/"


class LabgridError(HilError):
    """labgrid-client failed, timed out, or the place has no serial port."""


@dataclass(frozen=True)
class NetworkSerial:
    """A place's NetworkSerialPort, as the exporter published it."""

    host: str
    port: int
    protocol: str = "raw"

    @property
    def url(self) -> str:
        """The pyserial URL: socket:// for raw TCP, rfc2217:// for RFC 2217."""
        scheme = "rfc2217" if self.protocol == "rfc2217" else "socket"
        return f"{scheme}://{self.host}:{self.port}"


def find_client(name: str = CLIENT) -> str:
    """labgrid-client on PATH, or beside this Python (a venv's bin/ is often not on PATH)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise LabgridError(f"{name} is not on PATH nor beside {sys.executable}; install it with: {INSTALL_HINT}")
    return found


def parse_network_serial(show_output: str) -> NetworkSerial | None:
    """The NetworkSerialPort in `labgrid-client show` output; an acquired one wins over a matching one."""
    found: dict[str, NetworkSerial] = {}
    for state, _name, path, body in _RESOURCE.findall(show_output):
        if "/NetworkSerialPort/" not in f"/{path}/":
            continue
        try:
            params = ast.literal_eval(body.strip())["params"]
            found.setdefault(
                state, NetworkSerial(str(params["host"]), int(params["port"]), params.get("protocol", "raw"))
            )
        except (ValueError, SyntaxError, KeyError, TypeError):
            continue
    return found.get("Acquired") or found.get("Matching")


def has_debugger(show_output: str) -> bool:
    """Whether `labgrid-client show` lists a NetworkUSBDebugger (an exporter's USBDebugger) for the place."""
    return any(f"/{DEBUGGER}/" in f"/{path}/" for _, _, path, _ in _RESOURCE.findall(show_output))


def openocd_environment(place: str, openocd_config: str) -> dict:
    """A labgrid environment whose target is the place, with labgrid's OpenOCDDriver on its debugger loading an
    image by hil.openocd's program line (erase, write, verify, reset)."""
    driver: dict = {"load_commands": labgrid_load_commands()}
    if openocd_config.startswith(BOARD_CONFIGS):
        driver["board_config"] = openocd_config.removeprefix(BOARD_CONFIGS)  # labgrid adds the board/ back
    else:
        driver["config"] = [str(Path(openocd_config).resolve())]  # a file here, which labgrid copies over
    return {"targets": {"main": {"resources": {"RemotePlace": {"name": place}}, "drivers": {"OpenOCDDriver": driver}}}}


class LabgridPlace:
    """One labgrid place, acquired and released through labgrid-client."""

    def __init__(
        self,
        place: str,
        coordinator: str | None = None,
        *,
        user: str | None = None,
        client: str = CLIENT,
        command_timeout: float = 30.0,
        poll_interval: float = 0.5,
    ) -> None:
        """
        Args:
            place: the place name (`-p`).
            coordinator: HOST:PORT (`-x`); default $LG_COORDINATOR, else labgrid's 127.0.0.1:20408.
            user: labgrid user name for this process (LG_USERNAME), e.g. "ci-gw0"; default the login name.
            client: the labgrid-client executable.
            command_timeout: seconds one labgrid-client call may take.
            poll_interval: seconds between acquire attempts while the place is taken.
        """
        self.place = place
        self.coordinator = coordinator
        self.user = user
        self.client = client
        self.command_timeout = command_timeout
        self.poll_interval = poll_interval
        self.acquired = False

    def _run(self, *args: str, config: Path | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
        command = [find_client(self.client)]
        if self.coordinator:
            command += ["-x", self.coordinator]
        if config is not None:
            command += ["-c", str(config)]
        command += ["-p", self.place, *args]
        timeout = timeout or self.command_timeout
        env = dict(os.environ)
        if self.user:
            env["LG_USERNAME"] = self.user
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
        except subprocess.TimeoutExpired as e:
            raise LabgridError(
                f"`{' '.join(command)}` did not finish in {timeout:g} s: is the coordinator "
                f"{self.coordinator or os.environ.get('LG_COORDINATOR', '127.0.0.1:20408')} up?"
            ) from e

    def _fail(self, action: str, result: subprocess.CompletedProcess) -> LabgridError:
        said = (result.stderr + result.stdout).strip() or f"exit status {result.returncode}"
        return LabgridError(f"labgrid place '{self.place}': {action} failed: {said}")

    def acquire(self, timeout: float = 60.0) -> None:
        """Acquires the place, waiting up to `timeout` seconds while another user holds it.

        Raises:
            LabgridError: the place is unknown, the coordinator is unreachable, or it stayed taken.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = self._run("acquire")
            if result.returncode == 0:
                self.acquired = True
                return
            said = result.stderr + result.stdout
            if not any(marker in said for marker in _BUSY):
                raise self._fail("acquire", result)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabgridError(f"labgrid place '{self.place}' stayed taken for {timeout:g} s: {said.strip()}")
            time.sleep(min(self.poll_interval, remaining))

    def release(self) -> None:
        """Releases the place if this object acquired it; safe to call twice."""
        if not self.acquired:
            return
        result = self._run("release")
        if result.returncode != 0:
            raise self._fail("release", result)
        self.acquired = False

    def show(self) -> str:
        result = self._run("show")
        if result.returncode != 0:
            raise self._fail("show", result)
        return result.stdout

    def has_debugger(self) -> bool:
        return has_debugger(self.show())

    def flash(self, elf: Path, openocd_config: str, timeout: float = 300.0) -> None:
        """Flashes elf through the place's debugger with labgrid's OpenOCDDriver (`labgrid-client bootstrap`):
        labgrid runs openocd on the exporter's host over SSH, on the probe at the debugger's USB path."""
        with tempfile.TemporaryDirectory(prefix="hil-labgrid-") as folder:
            environment = Path(folder) / "openocd-env.yaml"
            environment.write_text(yaml.safe_dump(openocd_environment(self.place, openocd_config)))
            result = self._run("bootstrap", str(elf.resolve()), config=environment, timeout=timeout)
        if result.returncode != 0:
            lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
            raise LabgridError(
                f"labgrid place '{self.place}': flashing {elf.name} through its {DEBUGGER} (labgrid's OpenOCDDriver) "
                f"failed: {' | '.join(lines[-3:]) or f'exit status {result.returncode}'}"
            )

    def serial_port(self) -> NetworkSerial:
        """The place's NetworkSerialPort (host, port, protocol)."""
        found = parse_network_serial(self.show())
        if found is None:
            raise LabgridError(
                f"labgrid place '{self.place}' has no NetworkSerialPort: export one "
                "(exporter YAML: group -> NetworkSerialPort: {host, port, protocol: raw}) and add-match it"
            )
        return found

    def serial_url(self) -> str:
        """socket://HOST:PORT (or rfc2217://) for hil.link.device_link.open_port."""
        return self.serial_port().url

    def __enter__(self) -> LabgridPlace:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
