"""The object cache under firmware and host builds: a new model compiles only the sources that see it, and an object
is compiled again when a header it includes or a flag changes (real cross and host compilers)."""

from __future__ import annotations

import ctypes
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from hil.board_description import load_board
from hil.build import object_cache
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
from hil.host_build import build_shared_library
from tests.support.custom_model import write_model

# The application sources that include model.h or the build's own hil_build_config.h: their text differs per model.
SEES_THE_MODEL = {"main_semihosting", "device_report", "model"}
# The flash image opens with the vector table (64 B) and the build ID's note (36 B); the code starts after them.
AFTER_BUILD_ID = 100


@pytest.fixture
def objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty object cache of the test's own."""
    monkeypatch.setattr(object_cache, "OBJECTS_DIR", tmp_path / "objects")
    return tmp_path / "objects"


def _stems(objects: Iterable[Path]) -> set[str]:
    """The source names of object files (<stem>-<key>.o)."""
    return {path.name.rsplit("-", 1)[0] for path in objects}


def test_a_second_model_compiles_only_the_sources_that_see_it(
    objects: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two models on one board and transport: the kernels, runtime and link compile once; the second build adds the
    objects of its model.c and the few application files that include the model's header, and its image runs the
    same code as one built from nothing (only the build ID, which hashes the debug paths, may differ)."""
    board, builder = load_board("mps2-an386"), FirmwareBuilder(tmp_path / "fw")
    first = write_model(tmp_path / "one", "one", "(void)arena; return 0;")
    second = write_model(tmp_path / "two", "two", "arena[0] = 1; return 0;")
    builder.build(BuildRequest(board, first, "semihosting"))
    before = set(objects.glob("*.o"))
    assert {"conv2d_s8", "startup_cortex_m4", "semihosting"} <= _stems(before)
    image = builder.build(BuildRequest(board, second, "semihosting"))
    added = _stems(set(objects.glob("*.o")) - before)
    assert "model" in added and added <= SEES_THE_MODEL, added
    monkeypatch.setattr(object_cache, "OBJECTS_DIR", tmp_path / "cold_objects")
    again = FirmwareBuilder(tmp_path / "cold").build(BuildRequest(board, second, "semihosting"))
    assert _flash_image(image.elf)[AFTER_BUILD_ID:] == _flash_image(again.elf)[AFTER_BUILD_ID:]


def _flash_image(elf: Path) -> bytes:
    binary = elf.with_suffix(".bin")
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(binary)], check=True)
    return binary.read_bytes()


def test_an_object_follows_the_headers_and_flags_it_was_compiled_with(objects: Path, tmp_path: Path) -> None:
    """The key is the preprocessed text: a changed header, or a -D flag, gives a new object and the new value."""
    include = tmp_path / "include"
    include.mkdir()
    header = include / "value.h"
    source = tmp_path / "value.c"
    source.write_text('#include "value.h"\nint value(void);\nint value(void) { return VALUE * SCALE; }\n')

    def value(scale: int) -> int:
        header.write_text(header_text)
        library = build_shared_library(
            [source], name="value", include_dirs=(include,), extra_flags=(f"-DSCALE={scale}",), build_root=tmp_path
        )
        return ctypes.CDLL(str(library.path)).value()

    header_text = "#define VALUE 2\n"
    assert value(1) == 2
    header_text = "#define VALUE 3\n"
    assert value(1) == 3 and value(5) == 15
    assert len(list(objects.glob("value-*.o"))) == 3
