"""The first screen of a run's report: per model, did it pass, how fast, how big against its budget,
bit-exact or not, how close to float, and how each figure moved against the previous run."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hil.report.results import RESULTS_JSON, load_run

BIT_EXACT_METRICS = ("mismatched_values", "_mismatched_vs_reference")


@dataclass(frozen=True)
class Figure:
    """One line of a model's summary: a label, the value as shown, and whether it is within its limit."""

    label: str
    text: str
    ok: bool | None = None  # None: no limit to be within
    value: float | None = None  # what a baseline is compared on
    better: str = "lower"


def _rows(document: dict, model: str, match: Callable[[str], bool]) -> list[dict]:
    return [r for r in document.get("rows", []) if (r.get("model") or "") == model and match(r["metric"])]


def _one(document: dict, model: str, metric: str) -> dict | None:
    found = _rows(document, model, lambda m: m == metric)
    return found[-1] if found else None


def _bytes(row: dict | None, label: str) -> Figure:
    if row is None:
        return Figure(label, "—")
    budget = row.get("threshold")
    if budget:
        ok = row["value"] <= budget
        return Figure(label, f"{row['value'] / 1024:,.1f} KB of {budget / 1024:,.1f} KB budget", ok, row["value"])
    return Figure(label, f"{row['value'] / 1024:,.1f} KB", None, row["value"])


def _latency(document: dict, model: str, metric: str, label: str) -> Figure:
    row = _one(document, model, metric)
    if row is None:
        return Figure(label, "—")
    return Figure(label, f"{row['value']:,.0f} {row.get('unit') or ''}".strip(), None, row["value"])


def _bit_exact(document: dict, model: str) -> Figure:
    rows = _rows(document, model, lambda m: m == BIT_EXACT_METRICS[0] or m.endswith(BIT_EXACT_METRICS[1]))
    if not rows:
        return Figure("bit-exact with the integer reference", "—")
    by_item: dict[str, float] = {}
    for row in rows:
        key = row.get("item") or row["test"]
        by_item[key] = by_item.get(key, 0.0) + row["value"]
    differing = {k: v for k, v in by_item.items() if v}
    if not differing:
        return Figure("bit-exact with the integer reference", f"yes, all {len(by_item)} inputs", True, 0.0)
    text = f"no: {len(differing)} of {len(by_item)} inputs differ ({sum(differing.values()):,.0f} values)"
    return Figure("bit-exact with the integer reference", text, False, float(sum(differing.values())))


def _worst(document: dict, model: str, match: Callable[[str], bool], label: str, unit: str = "") -> Figure:
    """The lowest value over every input (SNR, recall, precision: higher is better), against its limit."""
    rows = [r for r in _rows(document, model, match) if not math.isnan(r["value"])]
    if not rows:
        return Figure(label, "—")
    worst = min(rows, key=lambda r: r["value"])
    limit = worst.get("threshold")
    shown = "equal (inf)" if math.isinf(worst["value"]) else f"{worst['value']:.3g}{unit}"
    text = f"{shown} worst of {len(rows)}" + (f" (at least {limit:.3g}{unit})" if limit is not None else "")
    return Figure(label, text, None if limit is None else worst["value"] >= limit, worst["value"], "higher")


def _ap(document: dict, model: str) -> Figure:
    device, floating = _one(document, model, "ap50_device"), _one(document, model, "ap50_float")
    if device is None:
        return Figure("AP@0.5 device (float)", "—")
    text = f"{device['value']:.3f}" + (f" (float {floating['value']:.3f})" if floating else "")
    limit = device.get("threshold")
    return Figure("AP@0.5 device (float)", text, None if limit is None else device["value"] >= limit, device["value"])


def model_figures(document: dict, model: str) -> list[Figure]:
    """The summary's figures of one model, in the order they are shown."""
    return [
        _latency(document, model, "latency_median", "latency median"),
        _latency(document, model, "latency_p95", "latency p95"),
        _bytes(_one(document, model, "ram_bytes"), "RAM"),
        _bytes(_one(document, model, "flash_bytes"), "flash"),
        _bit_exact(document, model),
        _worst(document, model, lambda m: m.endswith("snr_db"), "SNR against float", " dB"),
        _worst(document, model, lambda m: m == "recall_vs_float", "recall of float's faces"),
        _worst(document, model, lambda m: m == "precision_vs_float", "precision against float"),
        _ap(document, model),
    ]


def previous_run(run_dir: Path, model: str) -> tuple[str, dict] | None:
    """The latest run folder beside run_dir, older by name (runs are named by time), with figures of model."""
    if not run_dir.parent.is_dir():
        return None
    older = sorted((p for p in run_dir.parent.iterdir() if p.is_dir() and p.name < run_dir.name), reverse=True)
    for folder in older:
        if not (folder / RESULTS_JSON).is_file():
            continue
        document = load_run(folder)
        if any((r.get("model") or "") == model for r in document.get("rows", [])):
            return folder.name, document
    return None


def _change(figure: Figure, before: Figure | None) -> str:
    if figure.value is None or before is None or before.value is None:
        return ""
    if before.value == figure.value:
        return "same"
    if not before.value or math.isinf(before.value) or math.isinf(figure.value):
        return f"was {before.text}"
    change = (figure.value - before.value) / abs(before.value)
    worse = change > 0 if figure.better == "lower" else change < 0
    return f"<span class='{'worse' if worse else 'better'}'>{100 * change:+.1f} %</span>"


def model_verdicts(outcomes: dict[str, str], models_of: dict[str, str], default: str) -> dict[str, dict[str, int]]:
    """Per model, how many of its tests ended in each outcome (a test of no known model: the default's)."""
    counts: dict[str, dict[str, int]] = {}
    for test, outcome in outcomes.items():
        model_counts = counts.setdefault(models_of.get(test) or default, {})
        model_counts[outcome] = model_counts.get(outcome, 0) + 1
    return counts


def summary_html(
    document: dict, outcomes: dict[str, str], models_of: dict[str, str], run_dir: Path | None = None
) -> str:
    """One card per model: the verdict, its figures, and the change against the previous run."""
    run_model = str(document.get("metadata", {}).get("model") or "")
    verdicts = model_verdicts(outcomes, models_of, "" if "," in run_model else run_model)
    models = list(dict.fromkeys([*(r.get("model") or "" for r in document.get("rows", [])), *verdicts]))
    cards = []
    for model in models:
        counts = verdicts.get(model, {})
        failed = counts.get("failed", 0) + counts.get("error", 0)
        verdict = "FAIL" if failed else "PASS" if counts.get("passed") else "NO TESTS RAN"
        tally = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        baseline = previous_run(run_dir, model) if run_dir is not None else None
        before = {f.label: f for f in model_figures(baseline[1], model)} if baseline else {}
        lines = "".join(
            f"<tr class='{'' if f.ok is None else 'ok' if f.ok else 'over'}'><th>{html.escape(f.label)}</th>"
            f"<td>{html.escape(f.text)}</td><td>{_change(f, before.get(f.label))}</td></tr>"
            for f in model_figures(document, model)
        )
        against = f"change against {html.escape(baseline[0])}" if baseline else "no earlier run to compare with"
        cards.append(
            f"<div class='hil-model'><h3><span class='verdict {verdict.lower().replace(' ', '-')}'>{verdict}</span> "
            f"{html.escape(model or 'tests without a model')}</h3><p>{html.escape(tally)}</p>"
            f"<table><tr><th></th><th>this run</th><th>{against}</th></tr>{lines}</table></div>"
        )
    return f"<div class='hil-summary'>{''.join(cards)}</div>"


# Puts the summary first: pytest-html draws the environment table above it, so the page is a flex column
# with the title and the summary ordered before the rest. A test without output has no log box at all.
SUMMARY_STYLE = """<style>
body{display:flex;flex-direction:column}
#title{order:-3} .summary{order:-2}
.hil-summary{display:flex;flex-wrap:wrap;gap:16px;margin:8px 0}
.hil-model{border:1px solid #bbb;border-radius:4px;padding:4px 12px}
.hil-model h3{margin:6px 0} .hil-model p{margin:2px 0 6px 0}
.hil-model th{text-align:left;font-weight:normal;color:#444;padding:1px 10px 1px 0}
.hil-model td{padding:1px 10px 1px 0;color:#000}
.verdict{padding:1px 6px;border-radius:3px;color:white}
.verdict.pass{background:#2e7d32} .verdict.fail{background:#c62828} .verdict.no-tests-ran{background:#777}
.hil-model tr.over td{color:#c62828;font-weight:bold} .worse{color:#c62828} .better{color:#2e7d32}
.logwrapper:not(:has(.log)){display:none}
</style>"""
