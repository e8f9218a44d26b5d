#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install the pinned
# OpenMMLab stack plus `prtr` (editable) into it.
#
#   bash tools/install.sh            # .venv in the checkout
#   PRTR_VENV=/path bash tools/install.sh
#
# Idempotent: a second run on a complete environment only re-links the
# editable install (seconds). mmcv has no wheel on PyPI; it is built from its
# sdist with CPU ops (~10 min on 2 cores) and pip's wheel cache keeps the
# result, so the same machine never builds it twice.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PRTR_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
STAMP="$VENV/.prtr-stack"

die() { echo "install.sh: error: $*" >&2; exit 1; }
log() { echo "[install.sh] $*" >&2; }

command -v "$PYTHON" >/dev/null 2>&1 \
  || die "no Python interpreter '$PYTHON' found; install Python 3.11 (or set PYTHON=...)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 8) else 1)' \
  || die "$("$PYTHON" --version 2>&1) is too old; Python 3.11 is what this stack is pinned for"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "'$PYTHON' has no venv/ensurepip module (Debian: apt-get install python3-venv)"

# The stamp records the pins the environment was built from.
want_stamp="$(cat "$CONSTRAINTS" "$ROOT"/requirements/runtime.txt "$ROOT"/requirements/tests.txt | sha256sum | cut -c1-16)"

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create the virtual environment at $VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS")

stack_ok() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
    && "$PY" -c 'import mmcv.ops, mmdet, mmpose, mmengine, xtcocotools' >/dev/null 2>&1
}

if stack_ok; then
  log "pinned stack already installed in $VENV"
else
  log "installing torch and build tools"
  "${PIP[@]}" -r "$ROOT/requirements/build.txt"

  if ! "$PY" -c 'import mmcv.ops' >/dev/null 2>&1; then
    command -v "${CXX:-g++}" >/dev/null 2>&1 \
      || die "no C++ compiler ('${CXX:-g++}') found; mmcv is built from source (Debian: apt-get install g++)"
    # mmcv 2.1.0's setup.py hard-codes -std=c++17 after any CXXFLAGS, but
    # torch >= 2.14's headers require C++20: compile through a wrapper that
    # rewrites the flag.
    wrapper="$VENV/bin/prtr-cxx"
    cat > "$wrapper" <<WRAP
#!/usr/bin/env bash
args=()
for a in "\$@"; do [ "\$a" = "-std=c++17" ] && a="-std=c++20"; args+=("\$a"); done
exec $(command -v "${CXX:-g++}") "\${args[@]}"
WRAP
    chmod +x "$wrapper"
    log "building mmcv 2.1.0 with CPU ops (about 10 minutes on 2 cores unless pip's wheel cache has it)"
    CXX="$wrapper" MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES="" \
      MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" --no-build-isolation mmcv
  fi

  log "installing mmengine, mmdet, mmpose, openmim and their real dependencies"
  "${PIP[@]}" --no-deps mmdet mmpose openmim
  "${PIP[@]}" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
  "$PY" -c 'import mmcv.ops, mmdet, mmpose, mmengine, xtcocotools' \
    || die "the stack does not import in $VENV (see the error above)"
  echo "$want_stamp" > "$STAMP"
fi

# Always (re)link this checkout: cheap, and right when PRTR_VENV is shared by clones.
"${PIP[@]}" --no-deps --no-build-isolation -q -e "$ROOT"
log "ready: $VENV (activate with: source $VENV/bin/activate)"
