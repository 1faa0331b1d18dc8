"""The model catalog: every model the harness knows, each defined once as a `ModelSpec`, and how a `--model`
value becomes one."""

from hil.catalog.checkpoint import with_checkpoint
from hil.catalog.compile_cache import compile_spec, compiled_model, model_sources
from hil.catalog.entries import CATALOG
from hil.catalog.resolve import resolve_model
from hil.catalog.spec import Budgets, ModelDecode, ModelSpec, ParityThresholds

__all__ = [
    "CATALOG",
    "Budgets",
    "ModelDecode",
    "ModelSpec",
    "ParityThresholds",
    "compile_spec",
    "compiled_model",
    "model_sources",
    "resolve_model",
    "with_checkpoint",
]
