"""Reading board.toml files: the real boards, and clear errors for broken ones."""

from __future__ import annotations

import pytest

from hil import board_description
from hil.board_description import load_board, qemu_stand_in
from hil.errors import BoardDescriptionError, BoardNotFoundError


def test_the_real_board_describes_the_silicon():
    board = load_board("nucleo-f439zi")
    assert board.pyocd_target == "stm32f439xi" and board.qemu_machine is None
    assert board.core_clock_hz == 168_000_000 and board.timer_kind == "cycles"
    assert board.memory["CCM"].origin == 0x10000000
    assert "PB7" in board.led_inference


def test_the_qemu_stand_in_of_the_board_is_found():
    assert qemu_stand_in("nucleo-f439zi").name == "mps2-an386"
    assert qemu_stand_in("mps2-an386").name == "mps2-an386"


def test_an_unknown_board_names_the_known_ones():
    with pytest.raises(BoardNotFoundError, match=r"no board named 'stm32h7'.*mps2-an386, nucleo-f439zi"):
        load_board("stm32h7")


def _board_dir(tmp_path, monkeypatch, text: str):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "board.toml").write_text(text)
    monkeypatch.setattr(board_description, "BOARDS_DIR", tmp_path)


def test_a_missing_key_is_named(tmp_path, monkeypatch):
    _board_dir(tmp_path, monkeypatch, 'name = "toy"\n')
    with pytest.raises(BoardDescriptionError, match=r"toy/board\.toml: missing key 'memory'"):
        load_board("toy")


def test_a_value_of_the_wrong_kind_is_named(tmp_path, monkeypatch):
    good = (board_description.BOARDS_DIR / "mps2-an386" / "board.toml").read_text()
    _board_dir(tmp_path, monkeypatch, good.replace("core_clock_hz = 25_000_000", 'core_clock_hz = "fast"'))
    with pytest.raises(BoardDescriptionError, match="'core_clock_hz' is 'fast', expected int"):
        load_board("toy")


def test_invalid_toml_is_reported_as_such(tmp_path, monkeypatch):
    _board_dir(tmp_path, monkeypatch, "name = \n")
    with pytest.raises(BoardDescriptionError, match="not valid TOML"):
        load_board("toy")
