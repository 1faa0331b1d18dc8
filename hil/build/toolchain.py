"""The cross toolchain and the emulator: where they are and which version, so builds and runs can say what made
them."""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass

from hil.errors import ToolchainError

INSTALL_HINT = "apt-get install -y --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi"
QEMU = "qemu-system-arm"
QEMU_INSTALL_HINT = "apt-get install -y --no-install-recommends qemu-system-arm"


@dataclass(frozen=True)
class Toolchain:
    """A GCC toolchain, by the path of its compiler driver."""

    gcc: str
    version: str


@functools.cache
def arm_toolchain() -> Toolchain:
    """arm-none-eabi-gcc from PATH, or a ToolchainError that says how to install it."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        raise ToolchainError(f"arm-none-eabi-gcc is not on PATH; install it with: {INSTALL_HINT}")
    result = subprocess.run([gcc, "--version"], capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise ToolchainError(f"{gcc} --version failed: {result.stderr.strip()}")
    return Toolchain(gcc, result.stdout.splitlines()[0].strip())


def qemu_version(qemu: str) -> str:
    """First line of `qemu-system-arm --version`, or 'not installed'."""
    if shutil.which(qemu) is None:
        return "not installed"
    result = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=30, check=False)
    return result.stdout.splitlines()[0].strip() if result.returncode == 0 and result.stdout else "unknown"
