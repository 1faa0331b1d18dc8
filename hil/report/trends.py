"""Nightly trends: every run in a history directory, each metric across runs, and the verdict on the newest run
against a baseline run made the same way (hil/report/night_verdict.py)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hil.errors import HilError
from hil.report.figures import trend_chart
from hil.report.night_verdict import (
    NightVerdict,
    SeriesKey,
    accept,
    configuration,
    judge_night,
    load_accepted,
    run_problems,
    series_values,
)
from hil.report.results import load_run

DEFAULT_THRESHOLD = 0.05


@dataclass(frozen=True)
class RunRecord:
    name: str
    metadata: dict
    outcome: dict
    metrics: pd.DataFrame  # model, metric, value (median over the run's rows), unit, better


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


def _run_series(run: RunRecord) -> dict[SeriesKey, tuple[float, str, str]]:
    return series_values(run.metadata, run.metrics)


def _passing(run: RunRecord) -> bool:
    return not run_problems(run.outcome, run.metrics)


def choose_baseline(runs: list[RunRecord], latest: RunRecord, spec: str | None) -> RunRecord | None:
    """The run tonight is compared with. Default: the newest earlier run made the same way (model aside:
    target, transport, image set). spec: a run folder (name or path), a date prefix (20261101 matches
    20261101-023000), or `last-passing` (the newest earlier such run with no failed or errored test)."""
    earlier = [r for r in runs if r is not latest]
    same_way = [r for r in earlier if configuration(r.metadata) == configuration(latest.metadata)]
    if spec is None:
        return same_way[-1] if same_way else None
    if spec == "last-passing":
        passing = [r for r in same_way if _passing(r)]
        return passing[-1] if passing else None
    name = Path(spec).name
    named = [r for r in earlier if r.name == name] or [r for r in earlier if r.name.startswith(spec)]
    if not named:
        raise HilError(
            f"--baseline {spec}: no earlier run of that name or date prefix; runs are "
            f"{', '.join(r.name for r in earlier) or 'none'} (or use last-passing)"
        )
    return named[-1]


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


def write_trend_page(runs: list[RunRecord], verdict: NightVerdict, out: Path) -> Path:
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
    lines = "".join(
        f"<li class='{'regression' if line.split()[0] in ('FAILED', 'REGRESSION', 'MISSING') else 'note'}'>"
        f"{html.escape(line)}</li>"
        for line in verdict.lines()
    )
    against = f"against {html.escape(verdict.baseline)}" if verdict.baseline else "(no comparable baseline)"
    heading = "FAILED" if verdict.failed else "passed"
    verdict_html = (
        f"<h2 class='{'regression' if verdict.failed else 'ok'}'>{html.escape(verdict.latest)} {heading} "
        f"{against}</h2><ul>{lines}</ul>"
    )
    title = f"hil trends: {len(runs)} runs, {runs[0].name} to {runs[-1].name}"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} .regression{{color:#c00000}} td,th{{padding:2px 8px;text-align:left}}
.panels{{display:flex;flex-wrap:wrap;gap:8px}} .others{{color:#555;font-size:90%}}</style></head>
<body><h1>{html.escape(title)}</h1>{verdict_html}{_runs_table(runs)}{"".join(sections)}</body></html>"""
    out.write_text(page)
    return out


def build_trends(
    history_dir: Path,
    out: Path | None = None,
    baseline_spec: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    accept_series: list[str] | None = None,
) -> tuple[Path, NightVerdict, list[RunRecord]]:
    """Loads the history and judges its newest run (see night_verdict); --accept first re-baselines or retires
    the named series."""
    runs = load_history(history_dir)
    latest = runs[-1]
    baseline = choose_baseline(runs, latest, baseline_spec)
    latest_series = _run_series(latest)
    baseline_series = _run_series(baseline) if baseline else {}
    if accept_series:
        accept(history_dir, latest.name, latest_series, baseline_series, accept_series)
    earlier = [_run_series(r) for r in runs[:-1] if configuration(r.metadata) == configuration(latest.metadata)]
    recent = {key: [s[key][0] for s in earlier if key in s] for key in latest_series}
    verdict = judge_night(
        latest.name,
        latest_series,
        run_problems(latest.outcome, latest.metrics),
        baseline.name if baseline else None,
        baseline_series,
        recent,
        load_accepted(history_dir),
        threshold,
    )
    page = write_trend_page(runs, verdict, out or history_dir / "trends.html")
    return page, verdict, runs
