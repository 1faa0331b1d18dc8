"""`--model` in every form a user writes it, and the one-line errors when it names nothing loadable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hil.catalog import CATALOG, ModelSpec, compile_spec, resolve_model
from hil.catalog.resolve import c_name, parse_input_shape
from hil.cli import main
from hil.errors import ModelSpecError
from hil.exit_codes import USAGE_ERROR

NETS = """
import numpy as np
import torch
from torch import nn

from hil.catalog import ModelSpec
from hil.catalog.spec import Budgets


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(self.relu(self.conv(x)))


def build():
    return TinyNet()


def spec():
    return ModelSpec(
        name="tiny_net",
        build=lambda: TinyNet().eval(),
        input_shape=(1, 1, 8, 8),
        output_names=("scores",),
        calibration=lambda n: np.random.default_rng(1).standard_normal((n, 1, 8, 8)).astype(np.float32),
        budgets=Budgets(ram_bytes=40_000),
    )


def broken():
    raise RuntimeError("no weights today")


not_a_factory = 3
"""


@pytest.fixture
def nets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "user_nets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package / "nets.py"
    for name in [m for m in sys.modules if m.startswith("user_nets")]:
        del sys.modules[name]


def test_catalog_names_and_aliases() -> None:
    assert resolve_model("rnnpool_face_m4") is CATALOG["rnnpool_face_m4"]
    assert resolve_model("m4") is CATALOG["rnnpool_face_m4"]
    assert resolve_model("conv_test_model").build is None


def test_file_factory_returning_a_spec(nets: Path) -> None:
    spec = resolve_model(f"{nets}:spec")
    assert spec.name == "tiny_net" and spec.input_shape == (1, 1, 8, 8)
    assert spec.origin == f"{nets}:spec"


def test_module_factory_returning_a_bare_module_needs_a_shape(nets: Path) -> None:
    with pytest.raises(ModelSpecError, match=r"bare nn.Module.*--input-shape"):
        resolve_model("user_nets.nets:build")
    spec = resolve_model("user_nets.nets:build", (1, 1, 8, 8))
    assert spec.name == "nets_build" and isinstance(spec.build(), torch.nn.Module)


def test_a_model_value_may_carry_its_input_shape(nets: Path) -> None:
    """`--model FACTORY@1x1x8x8`: the shape a pytest run (which has no --input-shape) gives a bare nn.Module or an
    ONNX file with open axes; the value resolves alike wherever the run reads it."""
    with pytest.raises(ModelSpecError, match=r"or as --model user_nets\.nets:build@1x3x32x32"):
        resolve_model("user_nets.nets:build")
    spec = resolve_model("user_nets.nets:build@1,1,8,8")
    assert spec.input_shape == (1, 1, 8, 8) and spec is resolve_model(" user_nets.nets:build@1,1,8,8 ")
    assert resolve_model("user_nets.nets:build@1x1x8x8").input_shape == (1, 1, 8, 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no_such_model", "unknown; expected a catalog name"),
        ("user_nets.nets:missing", "has no 'missing'"),
        ("user_nets.nets:not_a_factory", "is a int, not a factory"),
        ("user_nets.nets:broken", "the factory raised RuntimeError: no weights today"),
        ("no_such_package.nets:build", "no module named 'no_such_package'"),
        ("missing/nets.py:build", "no such file"),
    ],
)
def test_bad_model_values_say_what_was_wrong(nets: Path, text: str, message: str) -> None:
    with pytest.raises(ModelSpecError, match=message):
        resolve_model(text)


def test_a_file_alone_is_never_guessed_at(nets: Path) -> None:
    with pytest.raises(ModelSpecError, match="never guessed from its name"):
        resolve_model(str(nets))


def test_entry_point_group(tmp_path: Path, nets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package registers a model under `hil.models`, as pytest11 plugins register: a real dist-info on sys.path."""
    dist = tmp_path / "user_nets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: user-nets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[hil.models]\ntiny = user_nets.nets:spec\n")
    assert resolve_model("tiny").name == "tiny_net"


def test_input_shapes_and_c_names() -> None:
    assert parse_input_shape("1,3,32,32") == (1, 3, 32, 32)
    assert parse_input_shape(None) is None
    with pytest.raises(ModelSpecError, match="positive integers"):
        parse_input_shape("1,three")
    assert c_name("kws-dscnn.v2") == "kws_dscnn_v2" and c_name("8bit") == "m_8bit"


def test_calibration_of_the_wrong_shape_is_named() -> None:
    spec = ModelSpec("m", lambda: torch.nn.Identity(), (1, 4), ("y",), calibration=lambda n: np.zeros((n, 5)))
    with pytest.raises(ModelSpecError, match=r"calibration data has shape \(8, 5\), expected \(N, 4\)"):
        spec.calibration_inputs()


def test_user_model_compiles_once_into_the_cache(nets: Path, tmp_path: Path) -> None:
    spec = resolve_model(f"{nets}:spec")
    first = compile_spec(spec, root=tmp_path / "cache")
    assert first.emitted.sources.directory.parent == tmp_path / "cache" / "tiny_net"
    summary = json.loads((first.emitted.sources.directory / "compiled.json").read_text())
    assert summary["hash"] == first.emitted.sources.hash and summary["key"]
    assert summary["ram"]["model_budget_bytes"] == 40_000  # the spec's own budget, as hil compile --json gives it
    again = compile_spec(resolve_model(f"{nets}:spec"), root=tmp_path / "cache")
    assert again is first  # the same process reuses the compile it made
    x = spec.calibration_inputs()[:1].transpose(0, 2, 3, 1)
    assert [g.shape for g in first.golden(x)] == [(1, 8, 8, 2)]


def test_compile_command_takes_a_file_factory(nets: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["compile", "--model", f"{nets}:spec", "-o", str(tmp_path / "out"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "tiny_net" and (tmp_path / "out" / "model.c").is_file()
    assert [o["shape"] for o in result["outputs"]] == [[1, 8, 8, 2]]


def test_compile_command_errors_are_one_json_line(nets: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["compile", "--model", "user_nets.nets:build", "--json"]) == USAGE_ERROR
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "input shape is unknown" in json.loads(out)["error"]


def test_the_hil_script_finds_the_checkouts_examples() -> None:
    """The console script (not `python -m`, which adds the working directory itself) from the repository root."""
    import subprocess

    script = Path(sys.executable).parent / "hil"
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(script), "compile", "--model", "examples.kws_dscnn:build", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["model"] == "kws_dscnn"
