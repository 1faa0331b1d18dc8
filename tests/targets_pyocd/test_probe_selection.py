"""Probe and port selection as pure functions: part names, unique IDs, USB serial numbers."""

from __future__ import annotations

import pytest

from hil.targets.board_errors import NoComPortError, NoFreeProbeError, ProbeNotFoundError
from hil.targets.probe_selection import find_com_port, same_part, select_probe
from tests.targets_pyocd.fakes import FakePort, stlink


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("stm32f439xi", "stm32f439zitx", True),
        ("stm32f439xi", "STM32F439ZI", True),
        ("stm32f439xi", "stm32f429xi", False),
        ("stm32f439xi", "stm32f439xg", False),
        ("stm32f439zi", "stm32f439vi", False),
        ("nrf52840", "nrf52840", True),
        ("stm32f439xi", None, False),
    ],
)
def test_same_part(a, b, same):
    assert same_part(a, b) is same


def test_a_unique_substring_of_the_id_selects_but_an_ambiguous_one_does_not():
    probes = [stlink("0669FF1111"), stlink("0670FF2222")]
    assert select_probe(probes, "stm32f439xi", "2222").unique_id == "0670FF2222"
    with pytest.raises(ProbeNotFoundError, match="matches several probes"):
        select_probe(probes, "stm32f439xi", "FF")


def test_no_fitting_probe_lists_what_was_seen():
    with pytest.raises(NoFreeProbeError, match=r"no connected probe is an ST-LINK on a stm32f439xi board.*AAAA"):
        select_probe([stlink("AAAA", "stm32f429xi", "NUCLEO-F429ZI")], "stm32f439xi")
    with pytest.raises(NoFreeProbeError, match="every ST-LINK probe on a stm32f439xi board is in use"):
        select_probe([stlink("BBBB")], "stm32f439xi", claim=lambda probe: False)


def test_ports_match_by_usb_serial_number_whatever_their_order():
    probe = stlink("066DFF575251717867114355")
    ports = [FakePort("/dev/ttyACM0", "0670FF"), FakePort("/dev/ttyACM1", "066dff575251717867114355")]
    assert find_com_port(probe, ports) == "/dev/ttyACM1"
    assert find_com_port(probe, list(reversed(ports))) == "/dev/ttyACM1"
    twice = [*ports, FakePort("/dev/ttyACM2", "066DFF575251717867114355")]
    with pytest.raises(NoComPortError, match=r"several serial ports \(/dev/ttyACM1, /dev/ttyACM2\)"):
        find_com_port(probe, twice)


def test_an_explicit_port_the_system_does_not_list_is_trusted():
    assert find_com_port(stlink("A"), [], "socket://lab:4000") == "socket://lab:4000"
