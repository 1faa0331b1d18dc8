"""`hil_results`: how a test records metrics, tables and figures for the results files and the report."""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path

import pytest

from hil.plugin.options import options_from_config
from hil.report.results import MetricRow, ResultsRecorder
from hil.report.run_metadata import run_metadata

RECORDER = pytest.StashKey[ResultsRecorder]()
EXTRAS = pytest.StashKey[list]()
REPO_ROOT = Path(__file__).resolve().parents[2]


def recorder(config: pytest.Config) -> ResultsRecorder:
    """The run's recorder, created on first use in --hil-out (or beside --html, or reports/<time>)."""
    if RECORDER not in config.stash:
        options = options_from_config(config)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        out_dir = options.out_dir or REPO_ROOT / "reports" / stamp
        config.stash[RECORDER] = ResultsRecorder(
            out_dir,
            run_metadata(
                {
                    "board": options.board,
                    "emulate": options.emulate,
                    "transport": options.transport,
                    "model": options.model,
                    **({"shard": options.shard} if options.shard else {}),
                }
            ),
        )
    return config.stash[RECORDER]


class TestRecord:
    """What one test measured. Rows go to the results files at once; tables and figures to the report."""

    __test__ = False

    def __init__(self, item: pytest.Item) -> None:
        self.item = item
        self.recorder = recorder(item.config)
        item.stash.setdefault(EXTRAS, [])

    def metric(
        self,
        name: str,
        value: float,
        unit: str = "",
        *,
        threshold: float | None = None,
        passed: bool | None = None,
        better: str = "lower",
        item: str = "",
    ) -> None:
        self.recorder.add(MetricRow(self.item.nodeid, name, float(value), unit, threshold, passed, better, item))
        # A JUnit <property> per figure, so a CI's test view can chart it next to the test.
        self.item.user_properties.append((f"{name}[{item}]" if item else name, _number(float(value))))

    def table(self, title: str, rows: list[dict]) -> None:
        """An HTML table in the report, one row per dict."""
        if not rows:
            return
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_format(v))}</td>" for v in row.values()) + "</tr>" for row in rows
        )
        self.item.stash[EXTRAS].append(
            ("html", f"<p><b>{html.escape(title)}</b></p><table class='hil-table'><tr>{head}</tr>{body}</table>")
        )

    def image(self, title: str, png: bytes) -> None:
        """A PNG shown inline in the report."""
        self.item.stash[EXTRAS].append(("png", (title, base64.b64encode(png).decode())))


def _number(value: float) -> str:
    return repr(int(value)) if value.is_integer() else repr(value)


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@pytest.fixture
def hil_results(request: pytest.FixtureRequest) -> TestRecord:
    """Records this test's metrics (results.csv/json) and its tables and figures (HTML report)."""
    return TestRecord(request.node)
