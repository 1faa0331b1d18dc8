#!/usr/bin/env bash
# The harness's own tests: lint, then every test under tests/. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --for-tests
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest tests -q "$@"
