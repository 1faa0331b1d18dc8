"""The results of a run: one row per measured metric, appended to results.jsonl the moment it is
measured (a crash keeps everything before it), and written as CSV and JSON with the run's metadata
when the run ends."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"


@dataclass(frozen=True)
class MetricRow:
    """One measured value: what, of which test, against what threshold, and which way is better."""

    test: str
    metric: str
    value: float
    unit: str = ""
    threshold: float | None = None
    passed: bool | None = None
    better: str = "lower"  # "lower" or "higher": how trends read a change
    item: str = ""  # the image, layer or input the value belongs to, if any
    model: str = ""  # the model the test ran (a run with several models runs each test once per model)


class ResultsRecorder:
    """Appends rows as they come and writes the tables at the end. Thread-safe."""

    def __init__(self, out_dir: Path, metadata: dict) -> None:
        self.out_dir = out_dir
        self.metadata = metadata
        self.rows: list[MetricRow] = []
        self._lock = threading.Lock()
        out_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = out_dir / RESULTS_JSONL
        self._jsonl.write_text(json.dumps({"metadata": metadata}) + "\n")

    def add(self, row: MetricRow) -> None:
        with self._lock:
            self.rows.append(row)
            with open(self._jsonl, "a") as f:
                f.write(json.dumps(asdict(row)) + "\n")

    def update_metadata(self, **fields: object) -> None:
        with self._lock:
            self.metadata.update(fields)
            with open(self._jsonl, "a") as f:
                f.write(json.dumps({"metadata": fields}) + "\n")

    def frame(self) -> pd.DataFrame:
        columns = list(MetricRow.__dataclass_fields__)
        return pd.DataFrame([asdict(r) for r in self.rows], columns=columns)

    def finish(self, outcome: dict) -> dict:
        """Writes results.csv and results.json (metadata, outcome counts, rows), and returns the latter."""
        frame = self.frame()
        for key, value in self.metadata.items():
            frame.insert(len(frame.columns), f"run_{key}", [value] * len(frame))
        frame.to_csv(self.out_dir / RESULTS_CSV, index=False)
        document = {"metadata": self.metadata, "outcome": outcome, "rows": [asdict(r) for r in self.rows]}
        (self.out_dir / RESULTS_JSON).write_text(json.dumps(document, indent=1, default=str))
        return document


def load_run(run_dir: Path) -> dict:
    """A run's results.json, or, after a crash, what its results.jsonl kept."""
    complete = run_dir / RESULTS_JSON
    if complete.is_file():
        return json.loads(complete.read_text())
    partial = run_dir / RESULTS_JSONL
    if not partial.is_file():
        raise FileNotFoundError(f"{run_dir} has neither {RESULTS_JSON} nor {RESULTS_JSONL}")
    metadata: dict = {}
    rows = []
    for line in partial.read_text().splitlines():
        record = json.loads(line)
        if "metadata" in record:
            metadata.update(record["metadata"])
        else:
            rows.append(record)
    return {"metadata": metadata, "outcome": {"complete": False}, "rows": rows}
