"""Object files cached by what the compiler sees: a C source preprocessed with the build's flags (every header it
includes, resolved, with its path) plus the flags that shape code and the compiler's version.

A firmware image or a host library is its sources compiled one by one, then linked. Of a firmware's 38 sources 37
(kernels, runtime, link) are the same for every model, and compiling them took 5.5 of a build's 5.7 s
(2026-12-07): with this cache a new model compiles its model.c and links. Keyed by the preprocessed text, an object
is reused exactly when the compiler would see the same input; include paths are left out of the key (they differ
per build folder and only change what the text holds). Every source compiles with its own cwd-independent command
in OBJECTS_DIR, so an object is the same bytes whichever build made it first.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hil.paths import WORK_DIR

OBJECTS_DIR = WORK_DIR / "objects"
# The most recently used objects kept: a firmware flag set is ~40 objects, a host one ~35, a model.c one each.
OBJECTS_KEPT = 2000


class CompileFailure(Exception):
    """A source that did not preprocess or compile: the command and what the compiler said."""

    def __init__(self, source: Path, command: tuple[str, ...], output: str) -> None:
        super().__init__(f"{source}: {output}")
        self.source, self.command, self.output = source, command, output


def compiled_objects(
    compiler: str, version: str, flags: Sequence[str], sources: Sequence[Path], timeout_s: float
) -> list[Path]:
    """The object file of each source, in order: from the cache, or compiled now with flags and `-c`.

    Raises:
        CompileFailure: the first source (in order) that failed to preprocess or compile.
    """
    OBJECTS_DIR.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        objects = list(pool.map(lambda s: _object(compiler, version, tuple(flags), Path(s), timeout_s), sources))
    if sum(1 for _ in OBJECTS_DIR.glob("*.o")) > OBJECTS_KEPT:
        _evict()
    return objects


def _object(compiler: str, version: str, flags: tuple[str, ...], source: Path, timeout_s: float) -> Path:
    text = _run(source, (compiler, *flags, "-E", str(source)), timeout_s)
    shaping = [f for f in flags if not f.startswith("-I")]
    key = hashlib.sha256(json.dumps([version, shaping, str(source)]).encode() + text).hexdigest()
    target = OBJECTS_DIR / f"{source.stem}-{key[:24]}.o"
    if target.is_file():
        os.utime(target)
        return target
    partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        _run(source, (compiler, *flags, "-c", str(source), "-o", str(partial)), timeout_s)
        os.replace(partial, target)  # atomic: a concurrent build sees the whole object or none
    finally:
        partial.unlink(missing_ok=True)
    return target


def _run(source: Path, command: tuple[str, ...], timeout_s: float) -> bytes:
    """The command's stdout; CompileFailure with what the compiler said when it fails."""
    result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False, cwd=OBJECTS_DIR)
    if result.returncode != 0:
        said = (result.stderr or result.stdout).decode(errors="replace").strip()
        raise CompileFailure(source, command, said)
    return result.stdout


def _evict() -> None:
    """Drops the least recently used objects down to OBJECTS_KEPT (another process may be dropping them too)."""

    def last_used(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    for path in sorted(OBJECTS_DIR.glob("*.o"), key=last_used)[:-OBJECTS_KEPT]:
        path.unlink(missing_ok=True)
