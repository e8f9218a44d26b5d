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
# one pytest worker per core (pytest-xdist), handed one test at a time,
# longest first (tests/conftest.py): most tests run a tool in one
# single-threaded process; PRTR_TEST_WORKERS=0 runs them in this one
python -m pytest tests -n "${PRTR_TEST_WORKERS:-auto}" --dist load \
  --maxschedchunk 1 "$@"
