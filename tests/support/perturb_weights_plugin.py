"""A pytest plugin for one test: the catalog's RNNPool_Face_M4 C with one weight changed, under the
same model hash, as a code-generation bug would leave it."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

from hil.catalog import CATALOG, compile_spec
from hil.model_sources import ModelSources

ORIGINAL = CATALOG["rnnpool_face_m4"]
# The first weight of the loc.1 head, found by its layer comment: the schedule decides the layer's number.
LAYER = re.compile(r"/\* layer (\d+): [^*]*\bloc\.1 \*/")


def perturbed(directory: Path) -> ModelSources:
    """The catalog's compile (in its own key folder under the run's root, so the store serves it) copied beside it
    with one weight changed; directory is root/<name>, where a model with its own sources may write."""
    sources = compile_spec(ORIGINAL, root=directory.parent).emitted.sources
    target = directory.parent / "rnnpool_face_m4_perturbed"
    shutil.copytree(sources.directory, target, dirs_exist_ok=True)
    model_c = target / "model.c"
    text = model_c.read_text()
    layer = LAYER.search(text).group(1)
    first = re.search(rf"static const int8_t l{layer}_filter\[\d+\][^=]*= \{{\s*(-?\d+)", text)
    value = int(first.group(1))
    changed = value + 9 if value < 100 else value - 9
    model_c.write_text(text[: first.start(1)] + str(changed) + text[first.end(1) :])
    return replace(sources, directory=target)


CATALOG["rnnpool_face_m4"] = replace(ORIGINAL, sources=perturbed)
