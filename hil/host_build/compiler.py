"""Compiles C (the kernels, generated model C) with the host gcc into a shared library, cached under build/host/ by
a hash of the sources, the headers they can include, the flags and the compiler version; each source's object comes
from hil.build.object_cache, so a new model compiles its own C and links."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hil.build.object_cache import CompileFailure, compiled_objects
from hil.errors import HilError, ToolchainError
from hil.paths import FIRMWARE_DIR, WORK_DIR

KERNELS_DIR = FIRMWARE_DIR / "kernels"
DEFAULT_BUILD_ROOT = WORK_DIR / "host"
COMPILE_FLAGS = ("-O2", "-fPIC", "-Wall", "-Wextra", "-Werror", "-std=c99")
HOST_FLAGS = (*COMPILE_FLAGS, "-shared")
INSTALL_HINT = "apt-get install -y --no-install-recommends gcc"
COMPILE_TIMEOUT_S = 300


class HostBuildError(HilError):
    """The host compile failed; the message carries the command and the compiler's own words."""


@dataclass(frozen=True)
class HostLibrary:
    """A shared library built from C sources with the host compiler."""

    path: Path
    key: str
    sources: tuple[Path, ...]
    flags: tuple[str, ...]
    reused: bool


@functools.cache
def host_compiler(cc: str = "gcc") -> tuple[str, str]:
    """(path, version line) of the host C compiler, or a ToolchainError saying how to install it."""
    path = shutil.which(cc)
    if path is None:
        raise ToolchainError(f"host C compiler '{cc}' is not on PATH; install it with: {INSTALL_HINT}")
    result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise ToolchainError(f"{path} --version failed: {result.stderr.strip()}")
    return path, result.stdout.splitlines()[0].strip()


def kernel_sources() -> list[Path]:
    """Every kernel source under firmware/kernels."""
    return sorted(KERNELS_DIR.glob("*.c"))


def _cache_key(compiler: str, flags: Sequence[str], sources: Sequence[Path], include_dirs: Sequence[Path]) -> str:
    digest = hashlib.sha256(json.dumps([compiler, list(flags)]).encode())
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for directory in include_dirs:
        for header in sorted(directory.glob("*.h")):
            digest.update(header.name.encode())
            digest.update(header.read_bytes())
    return digest.hexdigest()


def build_shared_library(
    sources: Sequence[Path] | None = None,
    *,
    name: str = "hil_kernels",
    include_dirs: Sequence[Path] = (KERNELS_DIR,),
    extra_flags: Sequence[str] = (),
    build_root: Path = DEFAULT_BUILD_ROOT,
    cc: str = "gcc",
) -> HostLibrary:
    """lib<name>.so from sources (default: the kernels), rebuilt only when a source, header or flag changed.

    Raises:
        ToolchainError: the compiler is missing.
        HostBuildError: the compile failed (the message quotes the compiler's output).
    """
    sources = tuple(Path(s).resolve() for s in (kernel_sources() if sources is None else sources))
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise HostBuildError(f"host build of {name}: no such source(s): {', '.join(missing)}")
    path, version = host_compiler(cc)
    added = (*extra_flags, *(f"-I{d}" for d in include_dirs))
    flags = (*HOST_FLAGS, *added)
    key = _cache_key(version, flags, sources, include_dirs)
    library = build_root / f"{name}-{key[:16]}" / f"lib{name}.so"
    if library.is_file():
        return HostLibrary(library, key, sources, flags, reused=True)
    library.parent.mkdir(parents=True, exist_ok=True)
    try:
        objects = compiled_objects(path, version, (*COMPILE_FLAGS, *added), sources, COMPILE_TIMEOUT_S)
    except CompileFailure as failure:
        raise HostBuildError(f"host build of {name} failed:\n$ {' '.join(failure.command)}\n{failure.output}") from None
    partial = library.with_name(f".{library.name}.{os.getpid()}.tmp")
    command = [path, *flags, *(str(o) for o in objects), "-o", str(partial)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise HostBuildError(
            f"host build of {name} failed (exit {result.returncode}):\n$ {' '.join(command)}\n"
            f"{(result.stderr or result.stdout).strip()}"
        )
    os.replace(partial, library)  # atomic: a concurrent builder sees the whole file or none
    return HostLibrary(library, key, sources, flags, reused=False)
