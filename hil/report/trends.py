"""Nightly trends: every run in a history directory, each metric across runs, and regressions of the
newest run against a baseline run beyond a threshold (default 5 %)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hil.errors import HilError
from hil.report.figures import trend_chart
from hil.report.results import load_run

DEFAULT_THRESHOLD = 0.05


@dataclass(frozen=True)
class RunRecord:
    name: str
    metadata: dict
    outcome: dict
    metrics: pd.DataFrame  # model, metric, value (median over the run's rows), unit, better


@dataclass(frozen=True)
class Regression:
    model: str
    metric: str
    baseline: float
    latest: float
    change: float  # relative, signed: positive is worse
    unit: str

    def describe(self) -> str:
        change = f"{100 * self.change:+.1f} % worse"
        return f"{self.model} {self.metric}: {_figure(self.baseline)} -> {_figure(self.latest)} {self.unit} ({change})"


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:,.4g}"


def load_history(history_dir: Path) -> list[RunRecord]:
    """Every run under history_dir (one folder each, with results.json or results.jsonl), oldest first."""
    if not history_dir.is_dir():
        raise HilError(f"history directory {history_dir} does not exist")
    runs = []
    for folder in sorted(p for p in history_dir.iterdir() if p.is_dir()):
        try:
            document = load_run(folder)
        except FileNotFoundError:
            continue
        rows = pd.DataFrame(document["rows"], columns=["model", "metric", "value", "unit", "better"])
        # Rows written before rows carried their model belong to the run's model.
        rows["model"] = rows["model"].fillna("").replace("", document["metadata"].get("model", ""))
        metrics = (
            rows.groupby(["model", "metric"], sort=True)
            .agg(value=("value", "median"), unit=("unit", "first"), better=("better", "first"))
            .reset_index()
        )
        runs.append(RunRecord(folder.name, document["metadata"], document.get("outcome", {}), metrics))
    if not runs:
        raise HilError(f"no runs in {history_dir}: expected folders holding results.json")
    runs.sort(key=lambda r: (r.metadata.get("started_utc", ""), r.name))
    return runs


def find_regressions(baseline: RunRecord, latest: RunRecord, threshold: float = DEFAULT_THRESHOLD) -> list[Regression]:
    """Metrics of latest worse than baseline by more than threshold (relative)."""
    merged = baseline.metrics.merge(latest.metrics, on=["model", "metric"], suffixes=("_base", "_new"))
    found = []
    for row in merged.itertuples():
        sign = -1.0 if row.better_new == "higher" else 1.0
        worse_by = sign * (row.value_new - row.value_base)
        if worse_by <= 0:
            continue
        change = worse_by / abs(row.value_base) if row.value_base else float("inf")
        if change > threshold:
            found.append(Regression(row.model, row.metric, row.value_base, row.value_new, change, row.unit_new))
    return found


def _img(png: bytes) -> str:
    return f"<img src='data:image/png;base64,{base64.b64encode(png).decode()}'/>"


# The figures a nightly reader follows, one panel each per model; every other figure is in the table.
KEY_METRICS = ("latency_median", "latency_p95", "ram_bytes", "flash_bytes", "ap50_device", "recall_vs_float")


def _runs_table(runs: list[RunRecord]) -> str:
    head = ("run", "started", "commit", "model", "board", "target", "passed", "failed", "errors", "complete")
    body = []
    for r in runs:
        errors = int(r.outcome.get("error", 0) or 0)
        cells = (
            r.name,
            r.metadata.get("started_utc", ""),
            r.metadata.get("commit", ""),
            ", ".join(sorted(set(r.metrics["model"]))) or r.metadata.get("model", ""),
            r.metadata.get("target_board") or r.metadata.get("board", ""),
            r.metadata.get("emulate") or "silicon",
            r.outcome.get("passed", ""),
            r.outcome.get("failed", ""),
            errors,
            "yes" if r.outcome.get("complete") else "no (crashed?)",
        )
        row_class = " class='regression'" if errors or r.outcome.get("failed") or not r.outcome.get("complete") else ""
        body.append(f"<tr{row_class}>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in cells) + "</tr>")
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(body) + "</table>"


def _series(runs: list[RunRecord], model: str, metric: str) -> tuple[list[float], str]:
    values, unit = [], ""
    for r in runs:
        match = r.metrics[(r.metrics["model"] == model) & (r.metrics["metric"] == metric)]
        values.append(float(match["value"].iloc[0]) if len(match) else float("nan"))
        unit = unit or (str(match["unit"].iloc[0]) if len(match) else "")
    return values, unit


def write_trend_page(
    runs: list[RunRecord], regressions: list[Regression], baseline: RunRecord, out: Path, threshold: float
) -> Path:
    """A self-contained HTML page: the verdict, the runs, and per model a panel per key metric."""
    labels = [r.name for r in runs]
    models = sorted(set().union(*(set(r.metrics["model"]) for r in runs)))
    sections = []
    for model in models:
        panels = []
        for metric in KEY_METRICS:
            values, unit = _series(runs, model, metric)
            if all(v != v for v in values):  # NaN everywhere: this model has no such figure
                continue
            chart = trend_chart(labels, {metric: values}, f"{model}: {metric}", unit)
            panels.append(f"<div class='panel'>{_img(chart)}</div>")
        others = sorted(set(runs[-1].metrics[runs[-1].metrics["model"] == model]["metric"]) - set(KEY_METRICS))
        listed = f"<p class='others'>Other figures of the newest run: {html.escape(', '.join(others))}</p>"
        sections.append(
            f"<h2>{html.escape(model)}</h2><div class='panels'>{''.join(panels)}</div>{listed if others else ''}"
        )
    if regressions:
        flagged = "".join(f"<li class='regression'>{html.escape(r.describe())}</li>" for r in regressions)
        verdict = f"<h2 class='regression'>Regressions against {html.escape(baseline.name)}</h2><ul>{flagged}</ul>"
    else:
        verdict = f"<h2>No regression beyond {100 * threshold:g} % against {html.escape(baseline.name)}</h2>"
    title = f"hil trends: {len(runs)} runs, {runs[0].name} to {runs[-1].name}"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} .regression{{color:#c00000}} td,th{{padding:2px 8px;text-align:left}}
.panels{{display:flex;flex-wrap:wrap;gap:8px}} .others{{color:#555;font-size:90%}}</style></head>
<body><h1>{html.escape(title)}</h1>{verdict}{_runs_table(runs)}{"".join(sections)}</body></html>"""
    out.write_text(page)
    return out


def build_trends(
    history_dir: Path, out: Path | None = None, baseline_name: str | None = None, threshold: float = DEFAULT_THRESHOLD
) -> tuple[Path, list[Regression], list[RunRecord]]:
    """Loads the history, compares the newest run with the baseline (default: the run before it)."""
    runs = load_history(history_dir)
    if len(runs) < 2:
        raise HilError(f"{history_dir} holds {len(runs)} run; trends need at least two")
    latest = runs[-1]
    if baseline_name is None:
        baseline = runs[-2]
    else:
        named = [r for r in runs if r.name == baseline_name]
        if not named:
            raise HilError(
                f"no run named '{baseline_name}' in {history_dir}: runs are {', '.join(r.name for r in runs)}"
            )
        baseline = named[0]
    regressions = find_regressions(baseline, latest, threshold)
    page = write_trend_page(runs, regressions, baseline, out or history_dir / "trends.html", threshold)
    return page, regressions, runs
