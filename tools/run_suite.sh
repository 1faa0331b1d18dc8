#!/usr/bin/env bash
# The main job: the HIL suite on an attached board, or on QEMU when none is attached,
# writing reports/<run>/index.html (plus JUnit XML). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
run="reports/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$run"
set +e
.venv/bin/python -m pytest test_cases --emulate auto --hil-transport auto -p no:cacheprovider --model rnnpool_face_m4,rnnpool_face_qvga \
    --html="$run/index.html" --self-contained-html --junitxml="$run/junit.xml" "$@"
status=$?
set -e
echo "report: $run/index.html"
exit $status
