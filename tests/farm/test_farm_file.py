"""Farm files: typed records, and errors that name the file, the entry and the field."""

from __future__ import annotations

import pytest

from hil.farm.farm_file import FarmBoard, FarmFileError, load_farm

GOOD = """
boards:
  - name: f439-a
    kind: nucleo-f439zi
    probe_uid: "066DFF575251717867114355"
    serial_port: /dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_066DFF575251717867114355-if02
    tags: [camera, fast]
    timeout_multiplier: 1.5
  - name: f439-lab
    kind: nucleo-f439zi
    labgrid_place: lab-f439-1
  - name: qemu-1
    kind: mps2-an386
    emulate: qemu
    serial_port: socket://127.0.0.1:4444
"""


def write(tmp_path, text):
    path = tmp_path / "farm.yaml"
    path.write_text(text)
    return path


def test_a_farm_file_loads_into_frozen_records(tmp_path):
    farm = load_farm(write(tmp_path, GOOD))
    first = farm.board("f439-a")
    assert first == FarmBoard(
        "f439-a",
        "nucleo-f439zi",
        "066DFF575251717867114355",
        "/dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_066DFF575251717867114355-if02",
        frozenset({"camera", "fast"}),
        None,
        1.5,
        None,
    )
    assert farm.board("f439-lab").labgrid_place == "lab-f439-1" and farm.board("qemu-1").emulate == "qemu"
    assert [b.name for b in farm.matching("nucleo-f439zi", ["camera"])] == ["f439-a"]
    assert [b.name for b in farm.matching("nucleo-f439zi")] == ["f439-a", "f439-lab"]
    with pytest.raises(AttributeError):
        first.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "name: a\n    kind: nucleo-f439zi\n    probe_uid: x\n    baud: 9600",
            r"boards\[0\] \('a'\): unknown field 'baud'",
        ),
        ("name: a\n    kind: nucleo-f999\n    probe_uid: x", r"\('a'\): kind 'nucleo-f999' is not a board folder"),
        (
            "name: a\n    kind: nucleo-f439zi\n    probe_uid: 12345",
            r"probe_uid is 12345, expected a non-empty .* \(quote",
        ),
        ("name: a\n    kind: nucleo-f439zi", r"\('a'\): a board needs probe_uid"),
        ("kind: nucleo-f439zi\n    probe_uid: x", r"boards\[0\]: name is None"),
        ("name: a\n    kind: nucleo-f439zi\n    probe_uid: x\n    serial_port: COM3", r"serial_port 'COM3' is neither"),
        ("name: a\n    kind: nucleo-f439zi\n    probe_uid: x\n    tags: camera", r"tags is 'camera', expected a list"),
        ("name: a\n    kind: mps2-an386\n    emulate: renode", r"emulate is 'renode', expected one of qemu"),
        (
            "name: a\n    kind: nucleo-f439zi\n    probe_uid: x\n    timeout_multiplier: 0",
            r"timeout_multiplier is 0, expected a number above 0",
        ),
    ],
)
def test_a_bad_entry_is_named_with_its_field(tmp_path, entry, message):
    path = write(tmp_path, f"boards:\n  - {entry}\n")
    with pytest.raises(FarmFileError, match=message) as caught:
        load_farm(path)
    assert str(path) in str(caught.value)


def test_duplicate_names_and_bad_files(tmp_path):
    twice = "boards:\n  - {name: a, kind: mps2-an386, emulate: qemu}\n  - {name: a, kind: mps2-an386, emulate: qemu}\n"
    with pytest.raises(FarmFileError, match="board name 'a' appears twice"):
        load_farm(write(tmp_path, twice))
    with pytest.raises(FarmFileError, match="not valid YAML"):
        load_farm(write(tmp_path, "boards: [\n"))
    with pytest.raises(FarmFileError, match="non-empty list 'boards'"):
        load_farm(write(tmp_path, "boards: []\n"))
    with pytest.raises(FarmFileError, match="cannot read farm file"):
        load_farm(tmp_path / "missing.yaml")
    with pytest.raises(FarmFileError, match="no board named 'zz'; boards: a"):
        load_farm(write(tmp_path, "boards:\n  - {name: a, kind: mps2-an386, emulate: qemu}\n")).board("zz")
