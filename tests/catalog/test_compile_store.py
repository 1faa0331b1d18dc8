"""The store of recent compiles: a second folder that asks for the same compile gets a copy instead of a compile (a
bench's, a test's or `hil compile -o`'s folder), and the store keeps only the most recently used ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hil.catalog import ModelSpec, compile_cache, compile_spec


class PixelNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)))


SPEC = ModelSpec(
    name="pixel_net",
    build=lambda: PixelNet().eval(),
    input_shape=(1, 1, 8, 8),
    output_names=("scores",),
    calibration=lambda n: np.random.default_rng(2).standard_normal((n, 1, 8, 8)).astype(np.float32),
)


@pytest.fixture
def compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the models compile_spec compiled (not copied), with a store of its own under tmp_path."""
    monkeypatch.setattr(compile_cache, "STORE", tmp_path / "store")
    names: list[str] = []
    compile_model = compile_cache._compile

    def counted(spec, *args):
        names.append(spec.name)
        return compile_model(spec, *args)

    monkeypatch.setattr(compile_cache, "_compile", counted)
    return names


def test_a_second_folder_gets_a_copy_of_the_stored_compile(compiles: list[str], tmp_path: Path) -> None:
    first = compile_spec(SPEC, directory=tmp_path / "a")
    (tmp_path / "a" / "hil_profile_hook.c").write_text("/* what a profile adds beside a compile */\n")
    second = compile_spec(SPEC, directory=tmp_path / "b")
    assert compiles == ["pixel_net"]
    assert second.emitted.sources.directory == tmp_path / "b"
    assert [p.name for p in second.emitted.sources.c_files] == ["model.c"]  # only what the compiler wrote
    for name in ("model.c", "model.h"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    x = SPEC.calibration(3)[2:].transpose(0, 2, 3, 1)
    assert all(np.array_equal(f, s) for f, s in zip(first.golden(x), second.golden(x), strict=True))
    key = compile_cache.compile_key(SPEC, SPEC.build(), SPEC.calibration_inputs())
    again = compile_cache._cached(tmp_path / "b", key)
    assert again is not None and again.emitted.sources.directory == tmp_path / "b"


def test_the_store_keeps_the_most_recently_used(
    compiles: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compile_cache, "STORE_ENTRIES", 2)
    a, b, c = (replace(SPEC, name=name) for name in ("net_a", "net_b", "net_c"))
    compile_spec(a, directory=tmp_path / "1")
    compile_spec(b, directory=tmp_path / "2")
    compile_spec(a, directory=tmp_path / "3")  # a copy: net_a is now the more recently used
    compile_spec(c, directory=tmp_path / "4")  # evicts net_b
    compile_spec(a, directory=tmp_path / "5")
    compile_spec(b, directory=tmp_path / "6")
    assert compiles == ["net_a", "net_b", "net_c", "net_b"]
    assert len([e for e in (tmp_path / "store").iterdir() if e.is_dir()]) == 2


def test_a_damaged_store_entry_is_compiled_again(compiles: list[str], tmp_path: Path) -> None:
    compile_spec(SPEC, directory=tmp_path / "a")
    (entry,) = [e for e in (tmp_path / "store").iterdir() if e.is_dir()]
    pickled = entry / compile_cache.PICKLE
    pickled.write_bytes(pickled.read_bytes()[:100])
    compiled = compile_spec(SPEC, directory=tmp_path / "b")
    assert compiles == ["pixel_net", "pixel_net"] and compiled.emitted.sources.directory == tmp_path / "b"


def test_each_weight_version_of_a_model_compiles_into_a_folder_of_its_own(
    compiles: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs at once of one model with other weights (a retrained checkpoint, a test's fresh seed) each keep
    their C: with one folder per model name, the second compile overwrote the first's model.c while the first
    run's firmware was being built from it, and its device reported the other model's hash. The folders of
    versions beyond VERSIONS_KEPT go, the least recently used first."""
    monkeypatch.setattr(compile_cache, "VERSIONS_KEPT", 2)

    def version(shift: float) -> ModelSpec:
        def build() -> nn.Module:
            net = PixelNet().eval()
            with torch.no_grad():
                net.head.bias += shift
            return net

        return replace(SPEC, build=build)

    root = tmp_path / "c"
    first = compile_spec(version(0.0), root=root)
    first_c = (first.emitted.sources.directory / "model.c").read_text()
    second = compile_spec(version(0.5), root=root)
    assert first.emitted.sources.directory.parent == second.emitted.sources.directory.parent == root / "pixel_net"
    assert first.emitted.sources.directory != second.emitted.sources.directory
    assert (first.emitted.sources.directory / "model.c").read_text() == first_c
    assert (second.emitted.sources.directory / "model.c").read_text() != first_c
    third = compile_spec(version(1.0), root=root)
    kept = sorted(p.name for p in (root / "pixel_net").iterdir())
    assert kept == sorted(c.emitted.sources.directory.name for c in (second, third))
    again = compile_spec(version(0.0), root=root)
    assert (again.emitted.sources.directory / "model.c").read_text() == first_c
    assert compiles == ["pixel_net"] * 3, "the fourth is the store's copy of the first"
