"""PNG figures for the HTML report, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, MaxNLocator


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def latency_histogram(values: list[float], unit: str, title: str) -> bytes:
    """Histogram of per-run latencies with the median and p95 marked."""
    figure, axes = plt.subplots(figsize=(5, 2.6))
    axes.hist(values, bins=min(20, max(5, len(values))), color="#4472c4")
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    axes.axvline(median, color="black", label=f"median {median:,.0f}")
    axes.axvline(p95, color="#c00000", linestyle="--", label=f"p95 {p95:,.0f}")
    # Latencies are millions of instructions that differ in the last digits: few ticks, with thousands
    # separators, tilted, so the labels never run into each other.
    axes.xaxis.set_major_locator(MaxNLocator(nbins=4))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    axes.tick_params(axis="x", labelrotation=20, labelsize=7)
    axes.set_xlabel(unit)
    axes.set_ylabel("runs")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=7)
    return _png(figure)


def budget_bars(used: dict[str, int], budget: dict[str, int], title: str) -> bytes:
    """One horizontal bar per memory kind: used bytes against the budget."""
    names = list(used)
    figure, axes = plt.subplots(figsize=(5, 0.6 + 0.5 * len(names)))
    limits = [budget[n] for n in names]
    values = [used[n] for n in names]
    colours = ["#c00000" if v > b else "#70ad47" for v, b in zip(values, limits, strict=True)]
    axes.barh(names, limits, color="#d9d9d9", label="budget")
    axes.barh(names, values, color=colours, label="used")
    for row, (value, limit) in enumerate(zip(values, limits, strict=True)):
        axes.text(
            max(value, limit) * 1.01, row, f"{value / 1024:,.1f} / {limit / 1024:,.0f} KB", va="center", fontsize=7
        )
    axes.set_xlim(0, max(*limits, *values) * 1.35)
    axes.set_xlabel("bytes")
    axes.set_title(title, fontsize=9)
    return _png(figure)


def trend_chart(runs: list[str], series: dict[str, list[float]], title: str, unit: str) -> bytes:
    """A line per series across runs (oldest first), the y axis in the unit with thousands separators."""
    figure, axes = plt.subplots(figsize=(4.2, 2.6))
    for name, values in series.items():
        axes.plot(range(len(runs)), values, marker="o", label=name)
    axes.set_xticks(range(len(runs)), runs, rotation=30, ha="right", fontsize=7)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.4g}" if abs(y) < 1e4 else f"{y:,.0f}"))
    axes.tick_params(axis="y", labelsize=7)
    axes.set_ylabel(unit if len(unit) <= 30 else unit[:27] + "...", fontsize=8)
    axes.set_title(title, fontsize=9)
    if len(series) > 1:
        axes.legend(fontsize=7)
    return _png(figure)
