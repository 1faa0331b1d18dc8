"""`hil_results`: how a test records metrics, tables and figures for the results files and the report."""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
from pathlib import Path

import pytest

from hil.plugin.options import HilOptions, options_from_config
from hil.report.results import MetricRow, ResultsRecorder
from hil.report.run_metadata import run_metadata

RECORDER = pytest.StashKey[ResultsRecorder]()
RUN_DIR = pytest.StashKey[Path]()
WORKERS = "workers"
EXTRAS = pytest.StashKey[list]()
REPO_ROOT = Path(__file__).resolve().parents[2]
REPORTS_DIR_VARIABLE = "HIL_REPORTS_DIR"


def reports_root() -> Path:
    """Where a run without --hil-out gets its folder: $HIL_REPORTS_DIR when set, else the checkout's reports/."""
    return Path(os.environ.get(REPORTS_DIR_VARIABLE) or REPO_ROOT / "reports")


def worker_id(config: pytest.Config) -> str | None:
    """The pytest-xdist worker this process is ('gw0', ...), or None for the controller or a plain run."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else None


def run_dir(config: pytest.Config) -> Path:
    """The run's folder: --hil-out, else <reports_root()>/<UTC time>; xdist workers get the controller's (see
    pytest_configure_node), so a run without --hil-out still has one folder."""
    if RUN_DIR not in config.stash:
        handed = (getattr(config, "workerinput", None) or {}).get("hil_run_dir")
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        config.stash[RUN_DIR] = (
            Path(handed) if handed else options_from_config(config).out_dir or reports_root() / stamp
        )
    return config.stash[RUN_DIR]


def recorder(config: pytest.Config) -> ResultsRecorder:
    """The run's recorder, created on first use in the run's folder. An xdist worker writes its own rows
    under workers/<id>/ (the controller merges them when the run ends) instead of rewriting the run's files."""
    if RECORDER not in config.stash:
        options = options_from_config(config)
        worker = worker_id(config)
        out_dir = run_dir(config) / WORKERS / worker if worker else run_dir(config)
        config.stash[RECORDER] = ResultsRecorder(
            out_dir,
            run_metadata(
                {
                    "board": options.board,
                    "emulate": options.emulate,
                    "transport": options.transport,
                    **({"transport_chosen_by": "--hil-transport auto"} if options.transport_chosen else {}),
                    "model": options.model,
                    "images": _images(options),
                    **({"shard": options.shard} if options.shard else {}),
                    **({"worker": worker} if worker else {}),
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
        callspec = getattr(item, "callspec", None)
        self.model = (
            callspec.params["hil_model_name"]
            if callspec and "hil_model_name" in callspec.params
            else options_from_config(item.config).models[0]
        )

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
        if passed is None and threshold is not None:  # a figure with a threshold says whether it met it
            passed = value >= threshold if better == "higher" else value <= threshold
        row = MetricRow(self.item.nodeid, name, float(value), unit, threshold, passed, better, item, self.model)
        self.recorder.add(row)
        # A JUnit <property> per figure, so a CI's test view can chart it next to the test.
        self.item.user_properties.append((f"{name}[{item}]" if item else name, _number(float(value))))

    def table(self, title: str, rows: list[dict]) -> None:
        """An HTML table in the report, one row per dict; a column per key of any row, blank where a row
        lacks it."""
        if not rows:
            return
        columns = list(dict.fromkeys(key for row in rows for key in row))
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_format(row.get(k, '')))}</td>" for k in columns) + "</tr>"
            for row in rows
        )
        self.item.stash[EXTRAS].append(
            ("html", f"<p><b>{html.escape(title)}</b></p><table class='hil-table'><tr>{head}</tr>{body}</table>")
        )

    def image(self, title: str, png: bytes) -> None:
        """A picture shown inline in the report, as a thumbnail (see `thumbnail`)."""
        kind, data = thumbnail(png)
        self.item.stash[EXTRAS].append((kind, (title, base64.b64encode(data).decode())))


THUMBNAIL_WIDTH = 480
JPEG_QUALITY = 70


def thumbnail(png: bytes) -> tuple[str, bytes]:
    """("jpg", bytes) of the picture at most THUMBNAIL_WIDTH wide when that is smaller, else ("png", png):
    photos shrink tenfold as JPEG, so a report of a hundred images stays a few MB; charts stay sharp PNGs."""
    import cv2
    import numpy as np

    picture = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    if picture is None:
        return "png", png
    height, width = picture.shape[:2]
    if width > THUMBNAIL_WIDTH:
        picture = cv2.resize(
            picture, (THUMBNAIL_WIDTH, round(height * THUMBNAIL_WIDTH / width)), interpolation=cv2.INTER_AREA
        )
    ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return ("jpg", jpeg.tobytes()) if ok and len(jpeg) < len(png) // 2 else ("png", png)


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


def _images(options: HilOptions) -> str:
    """What the run's inputs were, for its metadata (trends compare runs over the same images only)."""
    if options.images is None:
        return f"synthetic test x{options.image_count}"
    sample = f" (sample of {options.images_sample})" if options.images_sample else ""
    return f"{options.images}{sample}" + (f", truth {options.truth}" if options.truth else "")
