"""`hil report --merge`: the run folders of several shards (or machines) become one run folder, with
results.jsonl/csv/json written by the same recorder as a run's, one junit.xml, and an index.html."""

from __future__ import annotations

import html
import os
import xml.etree.ElementTree as ET
from dataclasses import fields
from pathlib import Path

from hil.errors import HilError
from hil.report.results import MetricRow, ResultsRecorder, load_run
from hil.report.summary import SUMMARY_STYLE, summary_html

JUNIT = "junit.xml"
COUNTED = ("passed", "failed", "skipped", "error", "rerun")
SUITE_COUNTS = ("tests", "errors", "failures", "skipped")


def _metadata(documents: list[dict], run_dirs: list[Path]) -> dict:
    """The first shard's metadata, the earliest start, and which folders (and shards) were merged."""
    metadata = dict(documents[0]["metadata"])
    metadata.pop("shard", None)
    starts = [d["metadata"]["started_utc"] for d in documents if d["metadata"].get("started_utc")]
    if starts:
        metadata["started_utc"] = min(starts)
    metadata["merged_from"] = [str(p) for p in run_dirs]
    metadata["shards"] = [d["metadata"].get("shard", "") for d in documents]
    return metadata


def _outcome(documents: list[dict]) -> dict:
    outcomes = [d.get("outcome", {}) for d in documents]
    merged: dict = {k: sum(int(o.get(k, 0)) for o in outcomes) for k in COUNTED}
    merged["flaky"] = sorted({t for o in outcomes for t in o.get("flaky", [])})
    merged["exitstatus"] = max(int(o.get("exitstatus", 0)) for o in outcomes)
    merged["complete"] = all(o.get("complete", False) for o in outcomes)
    return merged


def merge_junit(paths: list[Path], out: Path) -> Path:
    """One <testsuite> holding every shard's test cases, with the counts summed."""
    suites = []
    for path in paths:
        root = ET.parse(path).getroot()
        suites.extend(root.iter("testsuite"))
    merged = ET.Element("testsuite", name="pytest")
    for key in SUITE_COUNTS:
        merged.set(key, str(sum(int(s.get(key, 0)) for s in suites)))
    merged.set("time", f"{sum(float(s.get('time', 0)) for s in suites):.3f}")
    stamps = [s.get("timestamp") for s in suites if s.get("timestamp")]
    if stamps:
        merged.set("timestamp", min(stamps))
    for suite in suites:
        merged.extend(suite.findall("testcase"))
    root = ET.Element("testsuites")
    root.append(merged)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return out


def _case_outcome(case: ET.Element) -> str:
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        if case.find(tag) is not None:
            return outcome
    return "passed"


def junit_id(nodeid: str) -> str:
    """A pytest node id as JUnit XML names its test case (classname::name), as pytest's junitxml does it."""
    names = nodeid.split("::")
    names[0] = names[0].replace("/", ".").removesuffix(".py")
    return f"{'.'.join(names[:-1])}::{names[-1]}"


def _index_html(out_dir: Path, document: dict, outcome: dict, run_dirs: list[Path], junit: Path | None) -> Path:
    metadata = document["metadata"]
    cases = list(ET.parse(junit).getroot().iter("testcase")) if junit else []
    outcomes = {f"{c.get('classname', '')}::{c.get('name', '')}": _case_outcome(c) for c in cases}
    models_of = {junit_id(row["test"]): row.get("model") or "" for row in document["rows"]}
    summary = summary_html(document, outcomes, models_of, out_dir)
    rows = "".join(
        f"<tr class='{_case_outcome(c)}'><td>{html.escape(c.get('classname', ''))}::{html.escape(c.get('name', ''))}"
        f"</td><td>{_case_outcome(c)}</td><td>{float(c.get('time', 0)):.2f} s</td></tr>"
        for c in cases
    )
    links = "".join(
        f"<li><a href='{html.escape(os.path.relpath(d / 'index.html', out_dir))}'>{html.escape(d.name)}</a>"
        f" {html.escape(str(shard))}</li>"
        for d, shard in zip(run_dirs, metadata["shards"], strict=True)
    )
    counts = ", ".join(f"{outcome[k]} {k}" for k in COUNTED if outcome[k])
    title = f"hil run {out_dir.name}: {metadata.get('model', '')} on {metadata.get('board', '')}, merged"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} .failed,.error{{color:#c00000}} td,th{{padding:2px 8px;text-align:left}}</style>
{SUMMARY_STYLE}</head><body><h1 id="title">{html.escape(title)}</h1>{summary}<p>{html.escape(counts)}</p>
<p>Shards (each with its own full report):</p><ul>{links}</ul>
<table><tr><th>test</th><th>outcome</th><th>time</th></tr>{rows}</table></body></html>"""
    path = out_dir / "index.html"
    path.write_text(page)
    return path


def merge_runs(run_dirs: list[Path], out_dir: Path) -> dict:
    """Writes the merged run into out_dir and returns its results document."""
    if not run_dirs:
        raise HilError("--merge needs at least one run folder")
    documents = []
    for run_dir in run_dirs:
        try:
            documents.append(load_run(run_dir))
        except FileNotFoundError as e:
            raise HilError(f"--merge: {e}") from None
    if out_dir.resolve() in {d.resolve() for d in run_dirs}:
        raise HilError(f"--merge: the output folder {out_dir} is one of the folders to merge")
    metadata = _metadata(documents, run_dirs)
    recorder = ResultsRecorder(out_dir, metadata)
    known = {f.name for f in fields(MetricRow)}
    for document in documents:
        for row in document["rows"]:
            recorder.add(MetricRow(**{k: v for k, v in row.items() if k in known}))
    outcome = _outcome(documents)
    document = recorder.finish(outcome)
    junits = [d / JUNIT for d in run_dirs if (d / JUNIT).is_file()]
    junit = merge_junit(junits, out_dir / JUNIT) if junits else None
    _index_html(out_dir, document, outcome, run_dirs, junit)
    return document
