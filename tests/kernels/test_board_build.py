"""Every kernel compiles for the board warning-free: Cortex-M4 with the DSP path, and an ARMv7-M core without
DSP (Cortex-M3) for the portable fallback; the M4 objects really use the DSP instructions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hil.host_build import kernel_sources

ARM_GCC = shutil.which("arm-none-eabi-gcc")
pytestmark = pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc is not installed")
COMMON = ["-std=c99", "-mthumb", "-O2", "-Wall", "-Wextra", "-Werror", "-c"]
TARGETS = {
    "cortex-m4": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m3-no-dsp": ["-mcpu=cortex-m3"],
}


def _compile(source: Path, flags: list[str], out: Path) -> None:
    result = subprocess.run(
        [ARM_GCC, *flags, *COMMON, str(source), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{source.name}:\n{result.stderr}"


@pytest.mark.parametrize("target", TARGETS)
def test_kernels_compile_for_the_board(tmp_path: Path, target: str) -> None:
    for source in kernel_sources():
        _compile(source, TARGETS[target], tmp_path / f"{source.stem}.o")


def _disassembly(obj: Path) -> str:
    return subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("arm-none-eabi-objdump") is None, reason="arm-none-eabi-objdump is not installed")
def test_dsp_instructions_only_where_the_core_has_them(tmp_path: Path) -> None:
    source = next(s for s in kernel_sources() if s.name == "pointwise_conv2d_s8.c")
    for target, expect in (("cortex-m4", True), ("cortex-m3-no-dsp", False)):
        obj = tmp_path / f"{target}.o"
        _compile(source, TARGETS[target], obj)
        text = _disassembly(obj)
        assert ("smlad" in text and "sxtb16" in text) == expect, target
