"""One compile per model: the compiler's output (emitted C, golden model, summary) kept in a folder per model,
keyed by the content of everything that shapes it, so firmware and golden model come from the same compile. A store
of recent compiles by key (STORE) hands the same compile to another folder (a bench's or a test's temporary one, or
`hil compile -o`) as a copy: the QVGA's searches take minutes."""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import logging
import os
import pickle
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from hil.catalog.spec import ModelSpec
from hil.compiler.pipeline import CompiledModel
from hil.errors import HilError, ModelSpecError
from hil.model_sources import ModelSources, write_if_changed
from hil.paths import PACKAGE_DIR, WORK_DIR

COMPILED_ROOT = WORK_DIR / "model_c"
KEYED_SOURCE_DIRS = (PACKAGE_DIR / "compiler", PACKAGE_DIR / "kernels_ref")
KEYED_SOURCE_FILES = (PACKAGE_DIR / "model_sources.py",)  # emit_c writes each tensor's description with it
PICKLE = "compiled.pkl"
SUMMARY = "compiled.json"
EMITTED = ("model.c", "model.h")  # what emit_c writes: a folder may hold more (a profile's hook), never stored
STORE = WORK_DIR / "compiles"
LOG = logging.getLogger("hil.compiler.compile_cache")
STORE_ENTRIES = 24  # the most recently used compiles kept (a QVGA's is 3.4 MB)
KEY_CHARS = 16  # of a compile's key in its default folder's name, root/<model>/<key>
VERSIONS_KEPT = 4  # default folders kept per model, the most recently used
KEY_FOLDER = re.compile(f"[0-9a-f]{{{KEY_CHARS}}}")

_loaded: dict[tuple[str, str], CompiledModel] = {}


def _float_model(spec: ModelSpec):
    try:
        model = spec.build()
    except HilError:
        raise
    except Exception as e:
        raise ModelSpecError(f"model {spec.name}: building it raised {type(e).__name__}: {e}") from e
    return model.eval()


def _class_sources(model) -> list[bytes]:
    """The source files of every module class in the model: its forward code shapes what is captured."""
    files = set()
    for module in model.modules():
        try:
            files.add(inspect.getsourcefile(type(module)))
        except TypeError:
            continue
    return [Path(f).read_bytes() for f in sorted(f for f in files if f and Path(f).is_file())]


def compile_key(spec: ModelSpec, model, calibration: np.ndarray) -> str:
    """sha256 of the model (structure, weights, code), its calibration inputs and the compiler's sources."""
    digest = hashlib.sha256()
    choices = (
        spec.bit_widths,
        spec.bit_width_arena_budget,
        spec.output_measure,
        spec.exponents,
        spec.objective_outputs,
    )
    choices += (spec.stream_input,) if spec.stream_input else ()  # keys of compiles without it stay as they were
    choices += (spec.bit_width_latency_budget,) if spec.bit_width_latency_budget is not None else ()
    digest.update(repr((spec.name, spec.input_shape, spec.output_names, choices, repr(model))).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for source in _class_sources(model):
        digest.update(source)
    digest.update(np.ascontiguousarray(calibration).tobytes())
    for directory in KEYED_SOURCE_DIRS:
        for source in sorted(directory.rglob("*.py")):
            digest.update(source.read_bytes())
    for source in KEYED_SOURCE_FILES:
        digest.update(source.read_bytes())
    return digest.hexdigest()


def nhwc_inputs(batch: np.ndarray) -> list[np.ndarray]:
    """A batch in the model's own layout as the compiler's list of single inputs in the graph's layout (images:
    NCHW -> NHWC, sequences [N, C, L] -> [1, 1, L, C] each; ir.to_graph_layout)."""
    from hil.compiler.ir import to_graph_layout

    return [to_graph_layout(np.asarray(batch[i : i + 1], dtype=np.float32)) for i in range(batch.shape[0])]


def _check_weights(spec: ModelSpec, model) -> None:
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            raise ModelSpecError(f"model {spec.name}: weight '{name}' holds NaN or Inf; expected finite numbers")


def _check_input_shape(spec: ModelSpec, model) -> None:
    """The float model runs on the spec's input shape; a shape it cannot take is named before capture."""
    import torch

    try:
        with torch.no_grad():
            model(torch.zeros(spec.input_shape))
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelSpecError(
            f"model {spec.name}: input shape {tuple(spec.input_shape)} does not fit the model ({reason}); "
            "expected the shape its first layer takes, batch first (--input-shape)"
        ) from e


def _compile(spec: ModelSpec, model, calibration: np.ndarray, directory: Path) -> CompiledModel:
    import torch

    from hil.compiler.pipeline import captured_graph, compile_model

    _check_weights(spec, model)
    _check_input_shape(spec, model)
    graph = captured_graph(model, torch.zeros(spec.input_shape))
    # After the checks and capture, so a model they refuse gets its one-line error alone.
    LOG.info("%s: no compile of these weights, calibration and compiler sources yet", spec.name)
    return compile_model(
        graph,
        torch.zeros(spec.input_shape),
        nhwc_inputs(calibration),
        directory,
        spec.name,
        list(spec.output_names),
        spec.bit_widths,
        spec.bit_width_arena_budget,
        spec.exponents,
        list(spec.objective_outputs),
        spec.stream_input,
        spec.output_measure,
        spec.bit_width_latency_budget,
    )


def compile_spec(spec: ModelSpec, root: Path = COMPILED_ROOT, directory: Path | None = None) -> CompiledModel:
    """The compiled model, from directory when a compile of the same inputs is there, else compiled now. The default
    directory is root/<name>/<key>: two runs at once of one model with other weights (a retrained checkpoint, a
    test's fresh seed) must not build each other's C."""
    if spec.build is None:
        raise ModelSpecError(f"model {spec.name} is written in C: it has no float model to compile")
    model = _float_model(spec)
    calibration = spec.calibration_inputs()
    key = compile_key(spec, model, calibration)
    if directory is None:
        directory = root / spec.name / key[:KEY_CHARS]
        _keep_recent_versions(directory)
    if (str(directory), key) in _loaded and (directory / "model.c").is_file():
        return _loaded[(str(directory), key)]
    directory.mkdir(parents=True, exist_ok=True)
    # Workers of one run compiling the same model take turns: the second one finds the first one's compile, in its
    # folder or in the store. The folder's lock is always taken before the key's: no two processes wait on each other.
    with open(directory / ".compile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        compiled = _cached(directory, key)
        if compiled is None:
            STORE.mkdir(parents=True, exist_ok=True)
            with open(STORE / f".{key}.lock", "w") as stored:
                fcntl.flock(stored, fcntl.LOCK_EX)
                compiled = _from_store(key, directory, spec.budgets.ram_bytes)
                if compiled is None:
                    compiled = _compile(spec, model, calibration, directory)
                    _store(directory, key, compiled, spec.budgets.ram_bytes)
                    _to_store(key, directory)
    _loaded[(str(directory), key)] = compiled
    return compiled


def _keep_recent_versions(directory: Path) -> None:
    """Marks directory used now and removes its model's default folders beyond the VERSIONS_KEPT most recently
    used (each retrained checkpoint makes one)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.utime(directory)
    versions = [p for p in directory.parent.iterdir() if p.is_dir() and re.fullmatch(KEY_FOLDER, p.name)]
    for old in sorted(versions, key=_last_used)[:-VERSIONS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)


def _cached(directory: Path, key: str) -> CompiledModel | None:
    summary, pickled = directory / SUMMARY, directory / PICKLE
    if not summary.is_file() or not pickled.is_file() or not (directory / "model.c").is_file():
        return None
    if json.loads(summary.read_text()).get("key") != key:
        return None
    with pickled.open("rb") as f:
        return pickle.load(f)


def _store(directory: Path, key: str, compiled: CompiledModel, ram_budget: int | None) -> None:
    from hil.compiler.cli import compile_summary

    temporary = directory / f".{PICKLE}.{os.getpid()}"
    with temporary.open("wb") as f:
        pickle.dump(compiled, f, protocol=pickle.HIGHEST_PROTOCOL)
    temporary.replace(directory / PICKLE)
    summary = {"key": key, **compile_summary(compiled, model_budget=ram_budget)}
    (directory / SUMMARY).write_text(json.dumps(summary, indent=1, default=str))


def _from_store(key: str, directory: Path, ram_budget: int | None) -> CompiledModel | None:
    """The stored compile of key copied into directory (its sources pointing there), or None when none is stored."""
    entry = STORE / key
    try:
        compiled = _cached(entry, key)
        if compiled is None:
            return None
        for name in EMITTED:
            write_if_changed(directory / name, (entry / name).read_text())
    except (OSError, EOFError, pickle.UnpicklingError):  # evicted by another process meanwhile: compile it again
        return None
    sources = replace(compiled.emitted.sources, directory=directory)
    compiled = replace(compiled, emitted=replace(compiled.emitted, sources=sources))
    _store(directory, key, compiled, ram_budget)
    os.utime(entry)
    return compiled


def _to_store(key: str, directory: Path) -> None:
    """A copy of directory's compile as the store's entry for key; the least recently used beyond STORE_ENTRIES go."""
    temporary = STORE / f".{key}.{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    for name in (*EMITTED, PICKLE, SUMMARY):
        shutil.copyfile(directory / name, temporary / name)
    shutil.rmtree(STORE / key, ignore_errors=True)
    try:
        temporary.rename(STORE / key)
    except OSError:  # another process stored the same compile meanwhile (its lock file was evicted under it)
        shutil.rmtree(temporary, ignore_errors=True)
    entries = sorted((e for e in STORE.iterdir() if e.is_dir() and not e.name.startswith(".")), key=_last_used)
    for old in entries[:-STORE_ENTRIES]:
        shutil.rmtree(old, ignore_errors=True)
        (STORE / f".{old.name}.lock").unlink(missing_ok=True)


def _last_used(entry: Path) -> float:
    try:
        return entry.stat().st_mtime
    except FileNotFoundError:  # another process evicted it meanwhile
        return 0.0


def model_sources(model: str | ModelSpec, root: Path = COMPILED_ROOT) -> ModelSources:
    """The C of a model (a --model value or a spec), written or refreshed under root/<name>, and its layout."""
    from hil.catalog.resolve import resolve_model

    spec = resolve_model(model) if isinstance(model, str) else model
    if spec.sources is not None:
        return spec.sources(root / spec.name)
    return compile_spec(spec, root).emitted.sources


def compiled_model(model: str | ModelSpec, root: Path = COMPILED_ROOT) -> CompiledModel | None:
    """The compile a model's firmware was built from (its golden model), or None for a model written in C."""
    from hil.catalog.resolve import resolve_model

    spec = resolve_model(model) if isinstance(model, str) else model
    return None if spec.build is None else compile_spec(spec, root)
