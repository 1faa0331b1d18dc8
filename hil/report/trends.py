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
    metrics: pd.DataFrame  # metric, value (median over the run's rows), unit, better


@dataclass(frozen=True)
class Regression:
    metric: str
    baseline: float
    latest: float
    change: float  # relative, signed: positive is worse
    unit: str

    def describe(self) -> str:
        return (
            f"{self.metric}: {self.baseline:,.4g} -> {self.latest:,.4g} {self.unit} ({100 * self.change:+.1f} % worse)"
        )


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
        rows = pd.DataFrame(document["rows"], columns=["metric", "value", "unit", "better"])
        metrics = (
            rows.groupby("metric", sort=True)
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
    merged = baseline.metrics.merge(latest.metrics, on="metric", suffixes=("_base", "_new"))
    found = []
    for row in merged.itertuples():
        sign = -1.0 if row.better_new == "higher" else 1.0
        worse_by = sign * (row.value_new - row.value_base)
        if worse_by <= 0:
            continue
        change = worse_by / abs(row.value_base) if row.value_base else float("inf")
        if change > threshold:
            found.append(Regression(row.metric, row.value_base, row.value_new, change, row.unit_new))
    return found


def _img(png: bytes) -> str:
    return f"<img src='data:image/png;base64,{base64.b64encode(png).decode()}'/>"


def write_trend_page(
    runs: list[RunRecord], regressions: list[Regression], baseline: RunRecord, out: Path, threshold: float
) -> Path:
    """A self-contained HTML page: the runs, a chart per metric, the regressions flagged."""
    labels = [f"{r.metadata.get('commit', '?')[:8]} {r.name}" for r in runs]
    run_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                r.name,
                r.metadata.get("started_utc", ""),
                r.metadata.get("commit", ""),
                r.metadata.get("board", ""),
                r.metadata.get("target_board", ""),
                r.outcome.get("passed", ""),
                r.outcome.get("failed", ""),
            )
        )
        + "</tr>"
        for r in runs
    )
    metric_names = sorted(set().union(*(set(r.metrics["metric"]) for r in runs)))
    charts = []
    for name in metric_names:
        values = []
        unit = ""
        for r in runs:
            match = r.metrics[r.metrics["metric"] == name]
            values.append(float(match["value"].iloc[0]) if len(match) else float("nan"))
            unit = unit or (str(match["unit"].iloc[0]) if len(match) else "")
        charts.append(f"<h3>{html.escape(name)}</h3>{_img(trend_chart(labels, {name: values}, name, unit))}")
    if regressions:
        flagged = "".join(f"<li class='regression'>{html.escape(r.describe())}</li>" for r in regressions)
        verdict = f"<h2 class='regression'>Regressions against {html.escape(baseline.name)}</h2><ul>{flagged}</ul>"
    else:
        verdict = f"<h2>No regression beyond {100 * threshold:g} % against {html.escape(baseline.name)}</h2>"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>hil trends</title>
<style>body{{font-family:sans-serif}} .regression{{color:#c00000}} td,th{{padding:2px 8px}}</style></head>
<body><h1>hil trends: {len(runs)} runs</h1>{verdict}
<table><tr><th>run</th><th>started</th><th>commit</th><th>board</th><th>target</th><th>passed</th><th>failed</th></tr>
{run_rows}</table>{"".join(charts)}</body></html>"""
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
