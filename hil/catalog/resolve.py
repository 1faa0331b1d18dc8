"""`--model` text to a ModelSpec: a catalog name, `package.module:factory`, `path/to/file.py:factory`, an
`.onnx` file, or a name another installed package registers under the entry-point group `hil.models`."""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from hil.catalog.entries import ALIASES, CATALOG
from hil.catalog.spec import ModelSpec
from hil.errors import HilError, ModelSpecError

if TYPE_CHECKING:
    from torch import nn

ENTRY_POINT_GROUP = "hil.models"
FORMS = "a catalog name ({names}), package.module:factory, path/to/file.py:factory, a .onnx file, or an entry point"


def _forms() -> str:
    return FORMS.format(names=", ".join(sorted(CATALOG)))


def c_name(text: str) -> str:
    """A C identifier (and folder name) from free text: the generated code's prefix for a user's model."""
    name = re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_") or "model"
    return f"m_{name}" if name[0].isdigit() else name


def _load_file_module(path: Path):
    if not path.is_file():
        raise ModelSpecError(f"--model {path}: no such file")
    module_name = f"hil_user_model_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    _importable(path.resolve().parent)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[module_name]
        raise ModelSpecError(f"--model {path}: importing it raised {type(e).__name__}: {e}") from e
    return module


def _importable(*folders: Path) -> None:
    """The `hil` script, unlike `python -m` and pytest, does not put the working directory on sys.path, so
    `--model examples.vww:build` from a checkout would not find `examples`; a file's own folder is added as
    running it as a script would."""
    for folder in (Path.cwd(), *folders):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def _load_module(name: str):
    _importable()
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise ModelSpecError(f"--model {name}: no module named '{e.name}' (expected {_forms()})") from e
    except Exception as e:
        raise ModelSpecError(f"--model {name}: importing it raised {type(e).__name__}: {e}") from e


def _built_once(build: Callable[[], nn.Module] | None) -> Callable[[], nn.Module] | None:
    """A user's build, called at most once: `build=lambda: Net()` with random weights makes a new model at each call,
    and the compile, the firmware and the golden model they are checked against must all be one model."""
    if build is None:
        return None
    return functools.cache(build)


def _spec_from_factory(factory, text: str, default_name: str, input_shape: tuple[int, ...] | None) -> ModelSpec:
    """Calls a user's factory: a ModelSpec is taken as it is, a bare nn.Module needs an input shape."""
    from torch import nn

    if not callable(factory):
        raise ModelSpecError(f"--model {text}: '{default_name}' is a {type(factory).__name__}, not a factory")
    try:
        made = factory()
    except HilError:
        raise
    except Exception as e:
        raise ModelSpecError(f"--model {text}: the factory raised {type(e).__name__}: {e}") from e
    if isinstance(made, ModelSpec):
        spec = made if input_shape is None else replace(made, input_shape=input_shape)
        return replace(spec, origin=text, build=_built_once(spec.build))
    if isinstance(made, nn.Module):
        if input_shape is None:
            raise ModelSpecError(
                f"--model {text}: the factory returned a bare nn.Module, so its input shape is unknown: "
                f"give it with --input-shape (e.g. 1,3,32,32) or as --model {text}@1x3x32x32, or return a "
                "hil.catalog.ModelSpec"
            )
        model = made.eval()
        return ModelSpec(
            name=c_name(default_name),
            build=lambda: model,
            input_shape=input_shape,
            output_names=("output",),
            origin=text,
        )
    raise ModelSpecError(
        f"--model {text}: the factory returned a {type(made).__name__}, expected a torch nn.Module or a ModelSpec"
    )


def _from_entry_point(text: str, input_shape: tuple[int, ...] | None) -> ModelSpec | None:
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == text:
            try:
                factory = point.load()
            except Exception as e:
                raise ModelSpecError(
                    f"--model {text}: loading entry point {point.value} raised {type(e).__name__}: {e}"
                ) from e
            return _spec_from_factory(factory, text, text, input_shape)
    return None


def _from_onnx(path: Path, input_shape: tuple[int, ...] | None) -> ModelSpec:
    if not path.is_file():
        raise ModelSpecError(f"--model {path}: no such ONNX file")
    try:
        onnx_import = importlib.import_module("hil.compiler.onnx_import")
    except ImportError as e:
        raise ModelSpecError(
            f"--model {path}: ONNX import is not available ({e}); install the onnx extra: pip install 'hil[onnx]'"
        ) from e
    shape = onnx_import.onnx_input_shape(path, input_shape)
    model = onnx_import.load_onnx(path, shape)
    names = tuple(c_name(n) for n in onnx_import.onnx_output_names(path))
    return ModelSpec(
        name=c_name(path.stem), build=lambda: model, input_shape=shape, output_names=names, origin=str(path)
    )


# A user's factory is called once per process: one whose weights are random would otherwise give the plugin's
# firmware and the suite's golden model two different models.
_made: dict[tuple[str, tuple[int, ...] | None], ModelSpec] = {}


def resolve_model(text: str, input_shape: tuple[int, ...] | None = None) -> ModelSpec:
    """The model a `--model` value names; one ModelSpecError line when it names nothing loadable. A value may end
    in `@1x3x120x160`, its input shape: a pytest run has no --input-shape (and splits --model at commas), and each
    of its model values is resolved by its text alone."""
    text = text.strip()
    where, at, shape_text = text.rpartition("@")
    if at and re.fullmatch(r"\d+(?:[,x]\d+)+", shape_text):
        text, input_shape = where, input_shape or parse_input_shape(shape_text)
    name = ALIASES.get(text, text)
    if name in CATALOG:
        spec = CATALOG[name]
        return spec if input_shape is None else replace(spec, input_shape=input_shape)
    if (text, input_shape) not in _made:
        _made[(text, input_shape)] = _resolve_user_model(text, input_shape)
    return _made[(text, input_shape)]


def _resolve_user_model(text: str, input_shape: tuple[int, ...] | None) -> ModelSpec:
    if text.lower().endswith(".onnx"):
        return _from_onnx(Path(text), input_shape)
    if ":" in text:
        where, _, factory_name = text.rpartition(":")
        is_file = where.endswith(".py") or "/" in where or "\\" in where
        module = _load_file_module(Path(where)) if is_file else _load_module(where)
        if not hasattr(module, factory_name):
            raise ModelSpecError(f"--model {text}: {where} has no '{factory_name}'")
        default_name = f"{Path(where).stem if is_file else where.rpartition('.')[2]}_{factory_name}"
        return _spec_from_factory(getattr(module, factory_name), text, default_name, input_shape)
    from_entry_point = _from_entry_point(text, input_shape)
    if from_entry_point is not None:
        return from_entry_point
    if Path(text).exists():
        raise ModelSpecError(
            f"--model {text}: a file is not a model on its own (its kind is never guessed from its name); "
            f"expected {_forms()}; a checkpoint goes with its architecture: --model NAME --checkpoint FILE"
        )
    raise ModelSpecError(f"--model {text}: unknown; expected {_forms()}")


def parse_input_shape(text: str | None) -> tuple[int, ...] | None:
    """`1,3,32,32` -> (1, 3, 32, 32); None stays None."""
    if not text:
        return None
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise ModelSpecError(f"--input-shape {text}: expected positive integers separated by commas, e.g. 1,3,32,32")
    return shape
