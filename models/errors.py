"""Errors raised by the models package, each naming what was wrong and what was expected."""

from __future__ import annotations


class ModelInputError(ValueError):
    """An input (image, tensor, argument) has the wrong type, shape or value."""


class StateDictMismatchError(KeyError):
    """A state_dict does not match a model: lists the missing and unexpected keys."""

    def __init__(
        self, model_name: str, missing: list[str], unexpected: list[str], mismatched_shapes: list[str] | None = None
    ) -> None:
        self.model_name = model_name
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched_shapes = mismatched_shapes or []
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"state_dict does not fit {self.model_name}:"]
        if self.missing:
            lines.append(f"  missing keys ({len(self.missing)}): {', '.join(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected keys ({len(self.unexpected)}): {', '.join(self.unexpected)}")
        if self.mismatched_shapes:
            lines.append(f"  shape mismatches ({len(self.mismatched_shapes)}): {', '.join(self.mismatched_shapes)}")
        return "\n".join(lines)

    def brief(self, shown: int = 3) -> str:
        """One line for a command's error: each kind's count and its first few keys."""
        kinds = (("missing keys", self.missing), ("unexpected keys", self.unexpected))
        parts = [
            f"{label} ({len(keys)}): {', '.join(keys[:shown])}{', ...' if len(keys) > shown else ''}"
            for label, keys in (*kinds, ("shape mismatches", self.mismatched_shapes))
            if keys
        ]
        return f"state_dict does not fit {self.model_name}: " + "; ".join(parts)
