"""The model catalog: every model the harness knows, each defined once as a `ModelSpec`."""

from hil.catalog.spec import Budgets, ModelSpec, ParityThresholds

__all__ = ["Budgets", "ModelSpec", "ParityThresholds"]
