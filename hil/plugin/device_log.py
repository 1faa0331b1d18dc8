"""A device log per test, as pytest-embedded keeps a dut.log: what went over the link (frames, resends, INFO,
timings; the `hil` loggers) and what the emulator printed meanwhile, in <run>/logs/<test>.log, linked from the
test's row of the HTML report."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from hil.plugin.results_fixture import run_dir

LOGS = "logs"
OFFSETS = pytest.StashKey[dict]()
EMULATOR_OUTPUT = pytest.StashKey[str]()
FORMAT = "%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s"

try:
    import pytest_html
except ImportError:
    pytest_html = None


# A test that uses none of these has nothing to log: the harness's own tests, run with this plugin active, then
# leave no run folder in reports/.
HARNESS_FIXTURES = ("dut", "hil_results")


def keeps_a_log(item: pytest.Item) -> bool:
    """Whether the test talks to a device or records results, so a device log of it is worth a file."""
    return any(name in getattr(item, "fixturenames", ()) for name in HARNESS_FIXTURES)


def log_name(nodeid: str) -> str:
    """A file name for a test id: readable, unique per id, no path separators."""
    return re.sub(r"[^0-9A-Za-z_.\[\]=-]+", "_", nodeid).strip("_")[:200] + ".log"


def _emulator_output(item: pytest.Item) -> str:
    """What the emulator of the test's device printed since the previous test read it."""
    dut = (getattr(item, "funcargs", None) or {}).get("dut")
    path = dut.target.output_log() if dut is not None else None
    if path is None or not path.is_file():
        return ""
    offsets = item.config.stash.setdefault(OFFSETS, {})
    with path.open("rb") as f:
        f.seek(offsets.get(path, 0))
        data = f.read()
        offsets[path] = f.tell()
    return data.decode(errors="replace")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if not keeps_a_log(item):
        yield
        return
    path = run_dir(item.config) / LOGS / log_name(item.nodeid)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    logger = logging.getLogger("hil")
    level, propagate = logger.level, logger.propagate
    # The frames go to this file, not into pytest's captured-log section of every test.
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    handler.stream.write(f"test {item.nodeid}\n")
    try:
        yield
    finally:
        emulator = item.stash.get(EMULATOR_OUTPUT, "")
        if emulator:
            handler.stream.write(f"--- emulator output during the test ---\n{emulator}\n")
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        handler.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[EMULATOR_OUTPUT] = _emulator_output(item)  # the test's fixtures are gone after teardown
    if report.when == "call" and pytest_html is not None and keeps_a_log(item):
        link = f"{LOGS}/{log_name(item.nodeid)}"
        report.extras = [*getattr(report, "extras", []), pytest_html.extras.url(link, name="device log")]
