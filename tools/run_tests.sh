#!/usr/bin/env bash
# README command 2: install (if needed), lint, and run the whole test suite
# (the slow real-data checks included).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/install.sh
VENV="${PRTR_VENV:-$ROOT/.venv}"
# shellcheck disable=SC1091
source "$VENV/bin/activate"

echo "== lint: flake8, isort, yapf (setup.cfg) =="
SRC=(setup.py projects tools tests configs)
flake8 "${SRC[@]}"
isort --check-only --diff "${SRC[@]}"
yapf --diff --recursive "${SRC[@]}"

echo "== tests =="
# pytest-xdist settings in setup.cfg (addopts): one worker per core;
# PRTR_TEST_WORKERS=N chooses, 0 runs the tests in this process
python -m pytest tests -n "${PRTR_TEST_WORKERS:-auto}" "$@"
