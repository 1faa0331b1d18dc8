"""The verdict on the newest run of a history: compared only with runs made the same way (series keyed by model,
target, transport, image set and metric), failing on what got worse, on errors, on an empty or crashed run and
on a series that vanished, unless it was retired on purpose (`hil report --accept`)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from hil.errors import HilError

ACCEPTED_FILE = "accepted.json"
NOISY_UNITS = ("s", "ms", "us")
RECENT_RUNS = 5


@dataclass(frozen=True)
class SeriesKey:
    """What makes two figures comparable."""

    model: str
    target: str
    transport: str
    images: str
    metric: str

    @property
    def id(self) -> str:
        return f"{self.model}/{self.metric}@{self.target}/{self.transport}/{self.images}"

    def matches(self, pattern: str) -> bool:
        """`model/metric` names the series on any configuration; the full id names one."""
        return pattern in (self.id, f"{self.model}/{self.metric}")

    @property
    def noisy(self) -> bool:
        """Wall-clock figures vary run to run; instruction counts, bytes and bit-exactness do not."""
        return self.metric.split("[")[0].endswith(("_s", "_seconds")) or "wall" in self.metric


@dataclass(frozen=True)
class Change:
    """A figure that moved beyond what its kind of figure allows."""

    series: str
    baseline: float
    latest: float
    change: float  # relative, signed: positive is worse
    unit: str
    allowed: str  # the tolerance that was applied, in words

    def describe(self) -> str:
        word = "worse" if self.change > 0 else "better"
        return (
            f"{self.series}: {_figure(self.baseline)} -> {_figure(self.latest)} {self.unit} "
            f"({100 * abs(self.change):+.1f} % {word}; allowed {self.allowed})".replace("+-", "-")
        )


@dataclass
class NightVerdict:
    """Everything the newest run is judged on; `failed` when anything here should turn the night red."""

    latest: str
    baseline: str | None
    failures: list[str] = field(default_factory=list)
    regressions: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    new_series: list[str] = field(default_factory=list)
    missing_series: list[str] = field(default_factory=list)
    retired_series: list[str] = field(default_factory=list)
    accepted_series: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.failures or self.regressions or self.missing_series)

    def lines(self) -> list[str]:
        """The verdict for a terminal, worst first."""
        out = [f"FAILED {f}" for f in self.failures]
        out += [f"REGRESSION {r.describe()}" for r in self.regressions]
        out += [
            f"MISSING {s} (in {self.baseline}, not tonight; retire it with --accept if on purpose)"
            for s in self.missing_series
        ]
        out += [f"IMPROVED {r.describe()}" for r in self.improvements]
        out += [f"NEW {s} (no baseline yet)" for s in self.new_series]
        out += [f"RETIRED {s}" for s in self.retired_series]
        if self.baseline is None:
            out.append(f"no earlier run was made the same way as {self.latest}: nothing to compare with")
        return out

    def to_dict(self) -> dict:
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("regressions", "improvements")},
            "failed": self.failed,
            "regressions": [asdict(r) for r in self.regressions],
            "improvements": [asdict(r) for r in self.improvements],
        }


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:,.4g}"


def configuration(metadata: dict) -> tuple[str, str, str]:
    """(target, transport, image set) of a run: runs that differ in any of them are not compared."""
    target = f"{metadata.get('emulate') or 'silicon'}:{metadata.get('target_board') or metadata.get('board', '')}"
    return target, str(metadata.get("transport", "")), str(metadata.get("images", ""))


def series_values(metadata: dict, metrics: pd.DataFrame) -> dict[SeriesKey, tuple[float, str, str]]:
    """SeriesKey -> (value, unit, better) of one run."""
    target, transport, images = configuration(metadata)
    return {
        SeriesKey(row.model, target, transport, images, row.metric): (float(row.value), str(row.unit), row.better)
        for row in metrics.itertuples()
    }


def run_problems(outcome: dict, metrics: pd.DataFrame) -> list[str]:
    """Why a run cannot pass whatever its figures say."""
    problems = []
    if not outcome.get("complete"):
        problems.append("the run did not finish (crashed or killed): only its results.jsonl is there")
    if int(outcome.get("error", 0) or 0):
        problems.append(f"{outcome['error']} test(s) errored")
    if int(outcome.get("failed", 0) or 0):
        problems.append(f"{outcome['failed']} test(s) failed")
    if metrics.empty:
        problems.append("the run measured nothing")
    return problems


def load_accepted(history: Path) -> dict:
    path = history / ACCEPTED_FILE
    if not path.is_file():
        return {"retired": {}, "rebaselined": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise HilError(f"{path}: not JSON ({e}); expected what `hil report --accept` writes") from e


def accept(history: Path, latest_name: str, latest: dict, baseline: dict, patterns: list[str]) -> list[str]:
    """Makes tonight the baseline of the named series (a vanished one is retired); returns the series ids."""
    accepted = load_accepted(history)
    done = []
    for pattern in patterns:
        matched = [k for k in latest if k.matches(pattern)] + [k for k in baseline if k.matches(pattern)]
        if not matched:
            raise HilError(f"--accept {pattern}: no series of that name in tonight's run or its baseline")
        for key in dict.fromkeys(matched):
            if key in latest:
                accepted["rebaselined"][key.id] = {"run": latest_name, "value": latest[key][0]}
            else:
                accepted["retired"][key.id] = latest_name
            done.append(key.id)
    (history / ACCEPTED_FILE).write_text(json.dumps(accepted, indent=1))
    return done


def _judge(key: SeriesKey, unit: str, base: float, new: float, better: str, recent: list[float], threshold: float):
    """(signed relative change, tolerance in words, beyond tolerance?). Exact figures may move by the threshold;
    noisy ones by three times the spread (MAD) of recent runs, and at least the threshold."""
    sign = -1.0 if better == "higher" else 1.0
    change = sign * (new - base) / abs(base) if base else (0.0 if new == base else sign * (new - base) * math.inf)
    if (key.noisy or unit in NOISY_UNITS) and len(recent) >= 3:
        median = float(pd.Series(recent).median())
        spread = 1.4826 * float((pd.Series(recent) - median).abs().median())
        allowed = max(3 * spread, threshold * abs(median))
        beyond = abs(new - median) > allowed
        return change, f"3 x the spread of the last {len(recent)} runs, at least {100 * threshold:g} %", beyond
    return change, f"{100 * threshold:g} %", abs(change) > threshold


def judge_night(
    latest_name: str,
    latest: dict[SeriesKey, tuple[float, str, str]],
    problems: list[str],
    baseline_name: str | None,
    baseline: dict[SeriesKey, tuple[float, str, str]],
    history: dict[SeriesKey, list[float]],
    accepted: dict,
    threshold: float,
) -> NightVerdict:
    """The verdict on tonight's series against the baseline run's (and, for noisy figures, recent runs')."""
    verdict = NightVerdict(latest_name, baseline_name, failures=list(problems))
    for key, (value, unit, better) in sorted(latest.items(), key=lambda kv: kv[0].id):
        rebased = accepted["rebaselined"].get(key.id)
        if rebased and rebased["run"] == latest_name:
            verdict.accepted_series.append(key.id)
            continue
        if key not in baseline and not rebased:
            if baseline_name is not None:
                verdict.new_series.append(key.id)
            continue
        if rebased and (key not in baseline or rebased["run"] > (baseline_name or "")):
            base = rebased["value"]
        else:
            base = baseline[key][0]
        recent = history.get(key, [])[-RECENT_RUNS:]
        change, allowed, beyond = _judge(key, unit, base, value, better, recent, threshold)
        if beyond and change > 0:
            verdict.regressions.append(Change(key.id, base, value, change, unit, allowed))
        elif beyond and change < 0:
            verdict.improvements.append(Change(key.id, base, value, change, unit, allowed))
    for key in sorted(set(baseline) - set(latest), key=lambda k: k.id):
        (verdict.retired_series if key.id in accepted["retired"] else verdict.missing_series).append(key.id)
    return verdict
