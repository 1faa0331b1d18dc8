"""The pytest plugin: options that choose the target, the `dut` and `hil_results` fixtures, and the
run's reports (HTML with figures, results CSV/JSON with the run's metadata, JUnit XML).

Installed as the `pytest11` entry point `hil.plugin`, and registered by the root conftest.py for
runs from a checkout.
"""

from hil.plugin.fixtures import dut, hil_model_name, hil_options, pytest_collection_finish, pytest_generate_tests
from hil.plugin.options import pytest_addoption
from hil.plugin.reporting import (
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_html_results_summary,
    pytest_html_results_table_html,
    pytest_report_header,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
from hil.plugin.results_fixture import hil_results
from hil.plugin.worker_errors import pytest_testnodedown
from hil.plugin.xdist_results import pytest_configure_node

# Registered beside this module: their hooks would clash by name with reporting's.
pytest_plugins = ["hil.plugin.device_log", "hil.plugin.worker_threads"]

__all__ = [
    "dut",
    "hil_model_name",
    "hil_options",
    "hil_results",
    "pytest_addoption",
    "pytest_collection_finish",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_generate_tests",
    "pytest_html_results_summary",
    "pytest_html_results_table_html",
    "pytest_report_header",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "pytest_testnodedown",
]
