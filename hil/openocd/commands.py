"""Every OpenOCD command line the harness runs is built here: flash (`program <elf> verify reset exit`), reset,
read memory, the server the rtt transport talks to (`init` with only the Tcl port open), and the same flash step
as labgrid's OpenOCDDriver `load_commands`. `explain_failure` turns
OpenOCD's output into one line that tells a command OpenOCD rejected from a probe it could not reach."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from hil.errors import TargetError

OPENOCD = "openocd"
INSTALL_HINT = "apt-get install openocd"
# `echo` output that carries a result back out of OpenOCD's log.
RESULT_MARKER = "hil-openocd-result:"
# One-shot runs open no server ports: two runs (or workers) at once would fight over 3333/4444/6666.
NO_SERVERS = ("gdb_port disabled", "telnet_port disabled", "tcl_port disabled")
LABGRID_FILENAME = "{filename}"
_PARSE_ERRORS = ("invalid command name", "wrong # args", "can't find", "couldn't read file", "unknown command")
_NO_PROBE = ("open failed", "no device found", "unable to open", "libusb_open", "init mode failed", "failed to open")


def tcl_word(text: str) -> str:
    """text as one Tcl word: braces keep spaces, $ and [ ] literal; a brace or newline in it is refused."""
    if any(c in text for c in "{}\n\\"):
        raise TargetError(f"OpenOCD cannot be given {text!r}: braces, backslashes and newlines do not quote in Tcl")
    return f"{{{text}}}"


def program_commands(elf: Path | str) -> list[str]:
    """Erase, write and verify the ELF's flash sections, reset the core to run it, and leave OpenOCD."""
    return [f"program {tcl_word(str(elf))} verify reset exit"]


def server_commands() -> list[str]:
    """Attach to the running core and stay: no reset, so the firmware the flash started keeps its state."""
    return ["init"]


def reset_commands() -> list[str]:
    return ["init", "reset run", "shutdown"]


def read_memory_commands(address: int, size: int) -> list[str]:
    """size bytes from address, echoed after RESULT_MARKER as a Tcl list of numbers (OpenOCD 0.12's read_memory)."""
    return ["init", f'echo "{RESULT_MARKER}[read_memory 0x{address:08x} 8 {size}]"', "shutdown"]


def openocd_command(
    configs: Sequence[str],
    commands: Sequence[str],
    adapter_serial: str | None = None,
    executable: str = OPENOCD,
    tcl_port: int | None = None,
) -> list[str]:
    """The argv of one OpenOCD run: the probe picked by its USB serial number, the board's configs, then commands.
    Every server port is closed but tcl_port, when one is given (on loopback only: OpenOCD's default bind)."""
    argv = [executable]
    if adapter_serial:
        argv += ["-c", f"adapter serial {tcl_word(adapter_serial)}"]
    for config in configs:
        argv += ["-f", config]
    servers = NO_SERVERS if tcl_port is None else (*NO_SERVERS[:2], f"tcl_port {tcl_port}")
    for command in (*servers, *commands):
        argv += ["-c", command]
    return argv


def labgrid_load_commands() -> list[str]:
    """program_commands as str.format templates with {filename}, the form labgrid's OpenOCDDriver takes."""
    marker = "HIL_ELF_PATH"
    escaped = (c.replace("{", "{{").replace("}", "}}") for c in program_commands(marker))
    return [c.replace(marker, LABGRID_FILENAME) for c in escaped]


def parse_read_memory(output: str, size: int) -> bytes:
    """The bytes read_memory_commands echoed; one line saying what came back otherwise."""
    match = re.search(rf"{re.escape(RESULT_MARKER)}([^\n]*)", output)
    if match is None:
        raise TargetError(f"OpenOCD printed no memory read result: {last_lines(output)}")
    values = [int(v, 0) for v in match.group(1).split()]
    if len(values) != size:
        raise TargetError(f"OpenOCD read {len(values)} bytes, expected {size}: {last_lines(output)}")
    return bytes(values)


def last_lines(output: str, count: int = 3) -> str:
    """OpenOCD's first error lines (its last lines when it printed none), joined into one line."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "Error:" in line or "invalid command name" in line]
    return " | ".join(errors[:count] or lines[-count:]) or "no output"


def failure_kind(output: str) -> str:
    """'parse' when OpenOCD rejected a command or config, 'no probe' when it could not open the adapter."""
    text = output.lower()
    if any(marker in text for marker in _PARSE_ERRORS):
        return "parse"
    if any(marker in text for marker in _NO_PROBE):
        return "no probe"
    return "other"


def explain_failure(what: str, output: str, probe: str | None) -> str:
    """One line for a failed OpenOCD run."""
    kind = failure_kind(output)
    said = last_lines(output)
    if kind == "parse":
        return f"OpenOCD rejected the command line to {what}: {said} (a config name in board.toml, or a harness bug)"
    if kind == "no probe":
        return (
            f"OpenOCD could not open probe {probe or '(any)'} to {what}: {said}. Check the USB cable, that no other "
            "program (pyOCD, another OpenOCD, STM32CubeProgrammer) holds the ST-LINK, and OpenOCD's udev rules"
        )
    return f"OpenOCD failed to {what} through probe {probe or '(any)'}: {said}"
