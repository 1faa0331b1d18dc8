"""Complete results under pytest-xdist: every worker records into its own folder (workers/<id>/ of the run's
folder), and the controller, which alone sees every test's outcome, merges the workers' rows into the run's
results.jsonl/csv/json before its HTML report and JUnit XML are written."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from hil.plugin.results_fixture import WORKERS, recorder, run_dir, worker_id
from hil.report.results import MetricRow, load_run

ROW_FIELDS = {f.name for f in fields(MetricRow)}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Hands the controller's run folder to each worker (without --hil-out each would pick its own time)."""
    node.workerinput["hil_run_dir"] = str(run_dir(node.config))


def gather_worker_results(config: pytest.Config) -> int:
    """On the controller: the rows and metadata of every worker's folder into the run's recorder; how many
    workers had recorded anything."""
    if worker_id(config) is not None:
        return 0
    workers_dir = run_dir(config) / WORKERS
    folders = sorted(p for p in workers_dir.iterdir() if p.is_dir()) if workers_dir.is_dir() else []
    documents = []
    for folder in folders:
        try:
            documents.append(load_run(Path(folder)))
        except FileNotFoundError:
            continue
    if not documents:
        return 0
    run = recorder(config)
    metadata: dict = {}
    for document in documents:
        metadata.update({k: v for k, v in document["metadata"].items() if k not in ("worker", "started_utc")})
    run.update_metadata(**metadata, workers=[d["metadata"].get("worker", "") for d in documents])
    for document in documents:
        for row in document["rows"]:
            run.add(MetricRow(**{k: v for k, v in row.items() if k in ROW_FIELDS}))
    return len(documents)
