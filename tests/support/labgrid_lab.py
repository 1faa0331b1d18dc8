"""A real labgrid coordinator and exporter on loopback, exporting one TCP port as a NetworkSerialPort, and the
QEMU board whose UART that port is."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hil.board_description import load_board
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder, FirmwareImage
from hil.catalog import model_sources
from hil.farm.labgrid_place import find_client
from hil.targets.qemu import QemuProcess, free_tcp_port

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
LABGRID_MISSING = not (BIN / "labgrid-coordinator").exists()
SKIP_REASON = "labgrid is not installed (pip install labgrid==26.0.1)"


@contextmanager
def conv_model_on_qemu(workdir: Path) -> Iterator[tuple[FirmwareImage, int]]:
    """(the conv test model's UART image for mps2-an386, the local TCP port of its UART) while QEMU runs it."""
    board = load_board("mps2-an386")
    image = FirmwareBuilder().build(BuildRequest(board, model_sources("conv_test_model"), "uart"))
    port = free_tcp_port()
    qemu = QemuProcess(board, image.elf, workdir / "qemu", f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on")
    qemu.start()
    try:
        yield image, port
    finally:
        qemu.stop()


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def labgrid_lab(
    workdir: Path, exported_port: int, group: str = "board1", debugger_usb_path: str | None = None
) -> Iterator[str]:
    """Yields the coordinator's HOST:PORT once the exporter's NetworkSerialPort is visible. With
    debugger_usb_path the group also exports a USBDebugger, through tests.support.labgrid_debugger_exporter."""
    address = f"127.0.0.1:{free_tcp_port()}"
    exported = f"{group}:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {exported_port}\n    protocol: raw\n"
    if debugger_usb_path:
        exported += f"  USBDebugger:\n    match:\n      ID_PATH: {debugger_usb_path}\n"
    (workdir / "exporter.yaml").write_text(exported)
    processes: list[subprocess.Popen] = []
    try:
        with open(workdir / "coordinator.log", "wb") as log:
            processes.append(
                subprocess.Popen([BIN / "labgrid-coordinator", "-l", address], cwd=workdir, stdout=log, stderr=log)
            )
        # An exporter started before the coordinator listens gives up, so wait for the coordinator first.
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and processes[0].poll() is None, "the coordinator did not start"
                time.sleep(0.1)
        with open(workdir / "exporter.log", "wb") as log:
            program = [BIN / "labgrid-exporter"]
            if debugger_usb_path:
                program = [sys.executable, "-m", "tests.support.labgrid_debugger_exporter"]
            exporter = [*program, "-c", address, "-n", "exp1", "--hostname", "127.0.0.1"]
            environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
            processes.append(
                subprocess.Popen([*exporter, "exporter.yaml"], cwd=workdir, stdout=log, stderr=log, env=environment)
            )
        deadline = time.monotonic() + 30
        while True:
            result = subprocess.run(
                [find_client(), "-x", address, "resources"], capture_output=True, text=True, timeout=10, check=False
            )
            if f"exp1/{group}/NetworkSerialPort" in result.stdout:
                break
            exited = [p.args[0] for p in processes if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                logs = "\n".join(f"{f.name}: {f.read_text()[-1500:]}" for f in workdir.glob("*.log"))
                pytest.fail(f"the exporter never showed up (exited: {exited}): {result.stderr}\n{logs}")
            time.sleep(0.3)
        yield address
    finally:
        for process in reversed(processes):
            stop_process(process)


def create_place(address: str, name: str, group: str = "board1") -> None:
    client = [find_client(), "-x", address, "-p", name]
    for args in (["create"], ["add-match", f"exp1/{group}/*"]):
        subprocess.run([*client, *args], check=True, capture_output=True, timeout=20)


def delete_place(address: str, name: str) -> None:
    client = [find_client(), "-x", address, "-p", name]
    subprocess.run([*client, "release", "-k"], capture_output=True, timeout=20, check=False)
    subprocess.run([*client, "delete"], capture_output=True, timeout=20, check=False)
