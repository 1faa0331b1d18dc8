"""A device that cannot be reached ends the run once, with exit code NO_DEVICE (hil/exit_codes.py), instead of
failing every test with the same words. An xdist worker's finding travels back to the controller in its
workeroutput, since the controller reads nothing else from a worker but exit status 2."""

from __future__ import annotations

import pytest

from hil.exit_codes import NO_DEVICE

FOUND = pytest.StashKey[list]()
WORKEROUTPUT_KEY = "hil_no_device"


def stop_for_no_device(config: pytest.Config, message: str) -> None:
    """Ends the run because its device cannot be reached. A worker cannot end the run (xdist takes a worker
    that exits mid-test for a crash): its tests skip, and the controller says why once and sets the exit code."""
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is None:
        pytest.exit(message, returncode=NO_DEVICE)
    workeroutput[WORKEROUTPUT_KEY] = message
    pytest.skip("this worker's device is unavailable: the run's last lines say why")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """On the controller: a worker that stopped for its device."""
    message = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
    if message:
        node.config.stash.setdefault(FOUND, []).append((node.gateway.id, message))


def report_workers_without_device(session: pytest.Session) -> None:
    """On the controller: each worker's finding once, and the run's exit status set to NO_DEVICE."""
    found = session.config.stash.get(FOUND, [])
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    workers_of: dict[str, list[str]] = {}
    for worker, message in found:
        workers_of.setdefault(message, []).append(worker)
    for message, workers in workers_of.items():
        if reporter:
            reporter.write_line(f"{message} (worker {', '.join(sorted(workers))})", red=True)
    session.exitstatus = NO_DEVICE
