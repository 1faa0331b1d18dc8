#!/usr/bin/env bash
# Installs what the harness needs when it is missing: the Arm toolchain and QEMU from Debian,
# and a virtualenv (.venv) with the project and its Python packages. Safe to run again.
# --for-tests also installs what only the tests use: Chromium (to open the HTML report) and
# sigrok-cli (its demo driver makes a real logic-analyser capture), openocd (its command lines are checked)
# and openssh-server (an sshd on loopback stands for a labgrid exporter's host).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if [ "${1:-}" = "--for-tests" ]; then
    command -v chromium >/dev/null || need_apt+=(chromium)
    command -v sigrok-cli >/dev/null || need_apt+=(sigrok-cli)
    command -v openocd >/dev/null || need_apt+=(openocd)
    [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
fi
command -v arm-none-eabi-gcc >/dev/null || need_apt+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
python3 -m venv --help >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
stamp=.venv/.hil-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing the Python packages into .venv (log: .venv/pip.log)"
    # torch first and pinned: any other spec may pull a multi-GB CUDA build.
    if ! { .venv/bin/python -m pip install torch==2.13.0 && .venv/bin/python -m pip install -e '.[board,dev,farm,onnx]'; } \
        > .venv/pip.log 2>&1; then
        tail -n 40 .venv/pip.log
        echo "setup: pip failed; the whole log is .venv/pip.log" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
