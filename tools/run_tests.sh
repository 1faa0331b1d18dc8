#!/usr/bin/env bash
# The harness's own tests: lint, then every test under tests/ on two pytest-xdist workers (CI has two cores; a fresh
# clone took 24 min 54 s with setup on 2026-12-06). Extra arguments go to pytest after those, so `-n 0` runs them in
# one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --for-tests
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest tests -q -n 2 "$@"
