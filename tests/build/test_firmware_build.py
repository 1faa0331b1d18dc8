"""Building firmware with the real cross compiler: both boards, the footprint, reuse, overflow."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hil.board_description import load_board
from hil.build.firmware_builder import STACK_BYTES, BuildRequest, FirmwareBuilder, read_board_name
from hil.build.footprint import read_footprint
from hil.errors import FirmwareBuildError, RegionOverflowError
from hil.model_sources import ModelSources
from tests.support.custom_model import write_model


@pytest.mark.parametrize("board_name", ["nucleo-f439zi", "mps2-an386"])
@pytest.mark.parametrize("transport", ["uart", "semihosting"])
def test_every_board_builds_warning_free(builder, test_model, board_name, transport):
    image = builder.build(BuildRequest(load_board(board_name), test_model, transport))
    assert "-Werror" in image.flags and "-Wextra" in image.flags
    assert image.elf.is_file()
    assert read_board_name(image.elf) == board_name
    assert len(image.build_id) == 40


def _section_headers(elf: Path) -> dict[str, tuple[int, int, str]]:
    """name -> (address, size, type), as readelf reads the ELF's own section headers."""
    out = subprocess.run(["arm-none-eabi-readelf", "-SW", str(elf)], capture_output=True, text=True, check=True)
    headers = {}
    pattern = re.compile(r"\]\s+(\S+)\s+(\S+)\s+([0-9a-f]{8})\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*A\S*)\s")
    for match in pattern.finditer(out.stdout):
        name, kind, addr, size, _flags = match.groups()
        if int(size, 16):
            headers[name] = (int(addr, 16), int(size, 16), kind)
    return headers


@pytest.mark.parametrize("board_name", ["nucleo-f439zi", "mps2-an386"])
def test_footprint_agrees_with_the_elf_section_headers(builder, test_model, board_name):
    board = load_board(board_name)
    image = builder.build(BuildRequest(board, test_model, "uart"))
    headers = _section_headers(image.elf)
    footprint = image.footprint
    assert {s.name: (s.address, s.size) for s in footprint.sections} == {n: (a, s) for n, (a, s, _) in headers.items()}
    in_region = {
        region: sum(size for addr, size, _ in headers.values() if board.memory[region].contains(addr))
        for region in ("RAM", "CCM")
    }
    assert footprint.ram_bytes == in_region["RAM"] > 150_000
    assert footprint.ccm_bytes == in_region["CCM"] >= STACK_BYTES
    assert footprint.flash_bytes == sum(size for _, size, kind in headers.values() if kind != "NOBITS")
    assert footprint.biggest_symbols[0].name == "arena"
    assert footprint.biggest_symbols[0].size == test_model.arena_bytes
    ram = footprint.ram_breakdown()
    assert ram["arena_bytes"] == test_model.arena_bytes and ram["stack_reservation_bytes"] == STACK_BYTES
    assert ram["link_buffer_bytes"] == headers[".ccm_bss"][1] and ram["budget_bytes"] == board.ram_budget
    assert sum(v for k, v in ram.items() if k not in ("total_bytes", "budget_bytes")) == ram["total_bytes"]


def test_unchanged_inputs_reuse_the_image_and_a_changed_source_rebuilds(tmp_path, test_model):
    builder = FirmwareBuilder(tmp_path / "fw")
    board = load_board("mps2-an386")
    first = builder.build(BuildRequest(board, test_model, "uart"))
    again = builder.build(BuildRequest(board, test_model, "uart"))
    assert not first.reused and again.reused and again.build_id == first.build_id
    other_baud = builder.build(BuildRequest(board, test_model, "uart", baud=921_600))
    assert not other_baud.reused and other_baud.build_id != first.build_id
    # The image at another rate sits beside the default one instead of overwriting it.
    assert other_baud.elf != first.elf and first.elf.is_file() and other_baud.elf.is_file()
    assert builder.build(BuildRequest(board, test_model, "uart")).reused


def test_concurrent_builds_of_one_image_all_get_the_whole_elf(tmp_path, test_model):
    """Three workers building the same image into an empty cache (as pytest -n does) each get a complete ELF:
    one links, the others wait for it and reuse it."""
    builder = FirmwareBuilder(tmp_path / "fw")
    request = BuildRequest(load_board("mps2-an386"), test_model, "uart")
    with ThreadPoolExecutor(max_workers=3) as pool:
        images = list(pool.map(lambda _: builder.build(request), range(3)))
    assert len({image.build_id for image in images}) == 1
    assert sorted(image.reused for image in images) == [False, True, True]
    assert read_board_name(images[0].elf) == "mps2-an386"


def test_a_firmware_that_overflows_ram_fails_with_the_numbers(tmp_path):
    board = load_board("nucleo-f439zi")
    model = write_model(tmp_path / "huge", "huge", "arena[0]++; return 0;", arena_bytes=200_000)
    with pytest.raises(RegionOverflowError) as caught:
        FirmwareBuilder(tmp_path / "fw").build(BuildRequest(board, model, "uart"))
    message = str(caught.value)
    assert "nucleo-f439zi" in message and "RAM" in message
    assert "limit 196,608 B at 0x20000000" in message
    needed = int(re.search(r"needs ([\d,]+) B", message).group(1).replace(",", ""))
    assert needed > 200_000
    assert "arena" in message


def test_a_compile_error_carries_the_compiler_message(tmp_path, test_model):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.h").write_text('#include "hil_model.h"\n#define MODEL_ARENA_BYTES 16u\n')
    (broken / "model.c").write_text('#include "model.h"\nint32_t model_run(uint8_t *arena) { int unused; return 0; }\n')
    model = ModelSources("broken", "1", broken, test_model.inputs, test_model.outputs, 16)
    with pytest.raises(FirmwareBuildError, match="unused variable"):
        FirmwareBuilder(tmp_path / "fw").build(BuildRequest(load_board("mps2-an386"), model, "uart"))


def test_an_unknown_transport_is_refused(qemu_board, test_model):
    with pytest.raises(FirmwareBuildError, match="transport 'usb' is not one of uart, semihosting"):
        BuildRequest(qemu_board, test_model, "usb")


def test_the_stand_in_links_with_exactly_the_boards_memory_sizes():
    real, stand_in = load_board("nucleo-f439zi"), load_board("mps2-an386")
    assert stand_in.stand_in_for == real.name
    assert {n: r.size for n, r in real.memory.items()} == {n: r.size for n, r in stand_in.memory.items()}
    assert (real.flash_budget, real.ram_budget) == (stand_in.flash_budget, stand_in.ram_budget)


def test_footprint_reads_sections_of_the_semihosting_image_too(semihosting_image, qemu_board):
    footprint = read_footprint(semihosting_image.elf, qemu_board)
    assert {s.name for s in footprint.sections} >= {".isr_vector", ".text", ".bss", ".stack"}
