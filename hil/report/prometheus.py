"""A run's figures in the Prometheus text exposition format, as node_exporter's textfile collector reads
them: one gauge family per measured metric (`hil_<metric>`), labelled with the test, the item, the model
and the target, plus the run's test counts and start time."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

PREFIX = "hil_"
OUTCOMES = ("passed", "failed", "skipped", "error", "rerun")


def metric_name(metric: str) -> str:
    """`hil_` + the metric with every character Prometheus does not allow in a name made `_`."""
    return PREFIX + re.sub(r"[^a-zA-Z0-9_]", "_", metric)


def _label_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", " ")


def _labels(labels: dict[str, object]) -> str:
    return "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def run_labels(metadata: dict) -> dict[str, str]:
    """What every sample of a run carries: what ran, on what, over which transport, at which commit."""
    return {
        "model": str(metadata.get("model") or ""),
        "board": str(metadata.get("target_board") or metadata.get("board") or ""),
        "emulator": str(metadata.get("emulate") or ""),
        "transport": str(metadata.get("transport") or ""),
        "commit": str(metadata.get("commit") or ""),
    }


def exposition(document: dict) -> str:
    """The text of a results document (metadata, outcome, rows, as in results.json)."""
    base = run_labels(document.get("metadata", {}))
    families: dict[str, tuple[str, dict[tuple, float]]] = {}
    for row in document.get("rows", []):
        name = metric_name(row["metric"])
        unit = row.get("unit") or ""
        _, samples = families.setdefault(name, (f"{row['metric']} ({unit or 'no unit'})", {}))
        labels = {**base, "model": row.get("model") or base["model"], "test": row["test"], "item": row.get("item", "")}
        labels["unit"] = unit
        samples[tuple(labels.items())] = float(row["value"])  # a test recording one key twice: the last counts
    outcome = document.get("outcome", {})
    families[PREFIX + "tests"] = (
        "tests of the run by outcome",
        {tuple({**base, "outcome": k}.items()): float(outcome.get(k, 0)) for k in OUTCOMES},
    )
    started = document.get("metadata", {}).get("started_utc")
    if started:
        stamp = dt.datetime.fromisoformat(started).timestamp()
        families[PREFIX + "run_started_timestamp_seconds"] = ("when the run started", {tuple(base.items()): stamp})
    lines = []
    for name, (help_text, samples) in families.items():
        lines.append(f"# HELP {name} {_help(help_text)}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{_labels(dict(key))} {_number(value)}" for key, value in samples.items())
    return "\n".join(lines) + "\n"


def write_metrics(document: dict, path: Path) -> Path:
    """Writes the file whole through a temporary name, so a collector never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(exposition(document))
    partial.replace(path)
    return path
