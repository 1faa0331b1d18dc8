"""Hooks that write the run's report: where it goes, its header, the extras of each test, the tables."""

from __future__ import annotations

import html
from dataclasses import asdict

import pytest

from hil.errors import HilError
from hil.plugin.options import options_from_config
from hil.plugin.results_fixture import EXTRAS, RECORDER, recorder
from hil.plugin.setup_checks import check_setup
from hil.plugin.sharding import parse_shard, select_shard
from hil.plugin.worker_errors import report_workers_without_device
from hil.plugin.xdist_results import gather_worker_results
from hil.report.prometheus import write_metrics
from hil.report.run_metadata import git_commit
from hil.report.summary import SUMMARY_STYLE, summary_html

try:
    import pytest_html
except ImportError:  # the report still gets CSV, JSON and JUnit without pytest-html
    pytest_html = None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """With --hil-out, the HTML report and JUnit XML land there too unless asked for elsewhere."""
    config.addinivalue_line(
        "markers",
        "hil_requires(boards=None, models=None, silicon=False): run only on these board kinds or models, "
        "or only on silicon; skip elsewhere",
    )
    options = options_from_config(config)
    if pytest_html is not None:
        config.pluginmanager.register(_RunTitle(config), "hil-run-title")
    if options.shard:
        parse_shard(options.shard)  # a malformed shard stops the run before anything is collected
    if options.retries and not getattr(config.option, "reruns", 0):
        # pytest-rerunfailures reruns the test and reports each failed attempt as a rerun (flaky) in
        # the HTML report; only the harness's own errors (a device or link hiccup) are worth a retry.
        config.option.reruns = options.retries
        config.option.only_rerun = ["hil.errors.", "TargetError", "LinkError", "DeviceError"]
    check_setup(config, options)
    if config.getoption("hil_out") is None or options.out_dir is None or config.option.collectonly:
        return  # --collect-only leaves no run folder behind
    options.out_dir.mkdir(parents=True, exist_ok=True)
    if pytest_html is not None and getattr(config.option, "htmlpath", None) is None:
        config.option.htmlpath = str(options.out_dir / "index.html")
        config.option.self_contained_html = True
    if getattr(config.option, "xmlpath", None) is None:
        config.option.xmlpath = str(options.out_dir / "junit.xml")


def pytest_report_header(config: pytest.Config) -> list[str]:
    options = options_from_config(config)
    from hil.build.toolchain import arm_toolchain, qemu_version

    transport = options.transport
    if options.transport_chosen:
        transport += " (--hil-transport auto: the fastest here)"
    lines = [f"hil: board {options.board} on {options.target_label}, model {options.model}, {transport}"]
    if not options.baud_negotiation:
        lines.append("hil: UART baud negotiation off (--hil-baud-negotiation): a board's link stays at its start rate")
    try:
        lines.append(f"hil: toolchain {arm_toolchain().version}")
    except HilError as e:
        lines.append(f"hil: {e}")
    if options.emulate == "qemu":
        lines.append(f"hil: qemu-system-arm: {qemu_version('qemu-system-arm')}")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """This shard's tests only; tests named in the quarantine file are skipped, and say so, instead of
    failing the night."""
    options = options_from_config(config)
    select_shard(config, items, options.shard)
    path = options.quarantine
    if path is None:
        return
    if not path.is_file():
        raise pytest.UsageError(f"--hil-quarantine: no file at {path}")
    listed = {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}
    for item in items:
        if item.nodeid in listed or item.originalname in listed:
            item.add_marker(pytest.mark.skip(reason=f"quarantined in {path}"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("hil_requires")
    if marker is None:
        return
    options = options_from_config(item.config)
    boards, models = marker.kwargs.get("boards"), marker.kwargs.get("models")
    if boards and options.board not in boards:
        pytest.skip(f"hil_requires boards {', '.join(boards)}; this run is on {options.board}")
    if models and options.model not in models:
        pytest.skip(f"hil_requires models {', '.join(models)}; this run has {options.model}")
    if marker.kwargs.get("silicon") and options.emulate:
        pytest.skip(f"hil_requires silicon; this run is on {options.emulate}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(HilError) and report.failed:
        # The harness's own errors already say what failed and where: a traceback into it adds nothing.
        report.longrepr = f"{call.excinfo.typename}: {call.excinfo.value}"
    if report.when != "call" or pytest_html is None or EXTRAS not in item.stash:
        return
    extras = getattr(report, "extras", [])
    for kind, content in item.stash[EXTRAS]:
        if kind in ("png", "jpg"):
            title, data = content
            extras.append((pytest_html.extras.png if kind == "png" else pytest_html.extras.jpg)(data, name=title))
        else:
            extras.append(pytest_html.extras.html(content))
    report.extras = extras


@pytest.hookimpl(tryfirst=True)  # before pytest-html writes the page that shows the merged rows
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    gather_worker_results(config)
    report_workers_without_device(session)
    metrics = None if config.option.collectonly else options_from_config(config).metrics
    if RECORDER not in config.stash and metrics is None:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    counts = {
        k: len(v)
        for k, v in (reporter.stats.items() if reporter else [])
        if k in ("passed", "failed", "skipped", "error", "rerun")
    }
    flaky = sorted({r.nodeid for r in reporter.stats.get("rerun", [])}) if reporter else []
    outcome = {"exitstatus": int(exitstatus), **counts, "flaky": flaky, "complete": True}
    if RECORDER in config.stash:
        document = config.stash[RECORDER].finish(outcome)
    else:
        document = {"metadata": {}, "outcome": outcome, "rows": []}
    if metrics is not None and not hasattr(config, "workerinput"):  # the controller speaks for the run
        write_metrics(document, metrics)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if RECORDER in config.stash:
        terminalreporter.write_line(f"hil: results in {config.stash[RECORDER].out_dir}")


def _test_outcomes(config: pytest.Config) -> dict[str, str]:
    """Each test's outcome: an error in setup or teardown outweighs a failure, which outweighs the rest."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
    outcomes: dict[str, str] = {}
    for outcome in rank:
        for report in reporter.stats.get(outcome, []) if reporter else []:
            nodeid = getattr(report, "nodeid", "")
            if nodeid and rank[outcome] >= rank.get(outcomes.get(nodeid, "passed"), 0):
                outcomes[nodeid] = outcome
    return outcomes


def _models_of(session: pytest.Session, rows: list) -> dict[str, str]:
    """Each test's model, where known: its `hil_model_name` parameter or the model of its rows."""
    found = {row.test: row.model for row in rows if row.model}
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec and "hil_model_name" in callspec.params:
            found[item.nodeid] = callspec.params["hil_model_name"]
    return found


class _RunTitle:
    """Names the run in the HTML report's title (pytest-html asks at session start, with no config)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report) -> None:
        options = options_from_config(self.config)
        run = options.out_dir.name if options.out_dir else report.title
        target = options.emulate or "silicon"
        report.title = (
            f"hil run {run}: {options.model} on {options.board} ({target}, {options.transport}) at {git_commit()}"
        )


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_html(report: pytest.TestReport, data: list) -> None:
    if data == ["No log output captured."]:
        data.clear()  # pytest-html then draws no log box for the test


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list, summary: list, postfix: list, session: pytest.Session) -> None:
    if RECORDER not in session.config.stash:
        return
    run = recorder(session.config)
    document = {"metadata": run.metadata, "rows": [asdict(r) for r in run.rows]}
    prefix.append(
        SUMMARY_STYLE
        + summary_html(document, _test_outcomes(session.config), _models_of(session, run.rows), run.out_dir)
    )
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in run.metadata.items()
    )
    postfix.append(f"<h3>Run</h3><table class='hil-run'>{rows}</table>")
