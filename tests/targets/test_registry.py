"""Target kinds come from a registry each target module fills, and the farm and the targets do not import each
other (the glue between them is hil.target_factory)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hil.board_description import load_board
from hil.errors import TargetError
from hil.target_factory import target_kind
from hil.targets.qemu import QemuUartTarget
from hil.targets.registry import TargetRequest, create_target, target_kinds

HIL = Path(__file__).resolve().parents[2] / "hil"


def test_every_kind_is_registered() -> None:
    kinds = ["labgrid", "openocd", "pyocd", "qemu-rtt", "qemu-semihosting", "qemu-uart", "renode", "serial-port"]
    assert target_kinds() == kinds


def test_an_unknown_kind_names_the_known_ones(tmp_path) -> None:
    request = TargetRequest(load_board("mps2-an386"), tmp_path / "x.elf", tmp_path, run_timeout=5)
    with pytest.raises(
        TargetError, match=r"^unknown target kind 'jlink'; expected one of labgrid, openocd, pyocd, .*, serial-port$"
    ):
        create_target("jlink", request)


def test_a_kind_builds_its_target_from_the_request(tmp_path) -> None:
    request = TargetRequest(load_board("mps2-an386"), tmp_path / "x.elf", tmp_path, run_timeout=7)
    target = create_target("qemu-uart", request)
    assert isinstance(target, QemuUartTarget) and target.run_timeout == 7 and target.elf == request.elf
    with pytest.raises(TargetError, match="'serial-port' needs a port"):
        create_target("serial-port", request)


def test_the_run_picks_the_kind_from_the_emulator_transport_and_port() -> None:
    assert target_kind("qemu", "rtt", None) == "qemu-rtt"
    assert target_kind("qemu", "uart", "socket://127.0.0.1:5000") == "serial-port"
    assert target_kind("renode", "uart", None) == "renode" and target_kind(None, "uart", None) == "pyocd"
    assert set(target_kind("qemu", t, None) for t in ("uart", "semihosting", "rtt")) <= set(target_kinds())


def _imported_modules(package: Path) -> set[str]:
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(("package", "forbidden"), [("farm", "hil.targets"), ("targets", "hil.farm")])
def test_farm_and_targets_do_not_import_each_other(package: str, forbidden: str) -> None:
    offending = sorted(m for m in _imported_modules(HIL / package) if m == forbidden or m.startswith(forbidden + "."))
    assert offending == [], f"hil/{package} imports {offending}"
