"""The host build: cached by content and flags, clear errors for a missing compiler or a failing compile."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.errors import ToolchainError
from hil.host_build import HostBuildError, build_shared_library
from hil.host_build.compiler import HOST_FLAGS


def test_flags_are_the_strict_ones() -> None:
    assert {"-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror", "-std=c99"} <= set(HOST_FLAGS)


def test_rebuilds_only_when_sources_or_flags_change(tmp_path: Path) -> None:
    source = tmp_path / "one.c"
    source.write_text("int one(void);\nint one(void) { return 1; }\n")
    first = build_shared_library([source], name="one", include_dirs=(), build_root=tmp_path / "b")
    again = build_shared_library([source], name="one", include_dirs=(), build_root=tmp_path / "b")
    assert not first.reused and again.reused and again.path == first.path
    flagged = build_shared_library(
        [source], name="one", include_dirs=(), extra_flags=("-DX=1",), build_root=tmp_path / "b"
    )
    source.write_text("int one(void);\nint one(void) { return 2; }\n")
    changed = build_shared_library([source], name="one", include_dirs=(), build_root=tmp_path / "b")
    assert len({first.key, flagged.key, changed.key}) == 3 and not changed.reused


def test_compile_error_quotes_the_compiler(tmp_path: Path) -> None:
    source = tmp_path / "bad.c"
    source.write_text("int bad(int unused_arg) { return 0; }\n")  # -Wextra -Werror: unused parameter
    with pytest.raises(HostBuildError, match="unused") as raised:
        build_shared_library([source], name="bad", include_dirs=(), build_root=tmp_path / "b")
    assert "bad.c" in str(raised.value)
    assert not list((tmp_path / "b").rglob("*.so"))


def test_missing_compiler_and_source(tmp_path: Path) -> None:
    source = tmp_path / "x.c"
    source.write_text("int x;\n")
    with pytest.raises(ToolchainError, match="not on PATH"):
        build_shared_library([source], cc="no-such-cc-hil", build_root=tmp_path / "b")
    with pytest.raises(HostBuildError, match="no such source"):
        build_shared_library([tmp_path / "absent.c"], build_root=tmp_path / "b")
