#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install the pinned
# OpenMMLab stack plus `prtr` (editable) into it.
#
#   bash tools/install.sh                 # .venv in the checkout
#   PRTR_VENV=/path bash tools/install.sh
#   bash tools/install.sh --offline DIR   # no network: wheels from DIR (tools/make_wheelhouse.sh)
#
# mmcv has no wheel on PyPI; it is built from its sdist. On a CUDA machine
# (torch sees a GPU, or FORCE_CUDA=1 with nvcc) it is built with its CUDA ops
# for the local GPU architectures only (TORCH_CUDA_ARCH_LIST, read from the
# devices unless set), else with CPU ops (~10 min on 2 cores; pip's wheel
# cache keeps the CPU build). A torch already in the environment is kept;
# PRTR_SYSTEM_SITE_PACKAGES=1 makes a venv that sees the system's packages,
# so a cluster's CUDA torch is used instead of installing the pinned one.
#
# Idempotent: a second run on a complete environment only re-links the
# editable install (seconds).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PRTR_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
STAMP="$VENV/.prtr-stack"
OFFLINE=""

die() { echo "install.sh: error: $*" >&2; exit 1; }
log() { echo "[install.sh] $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --offline)
      [ $# -ge 2 ] || die "--offline needs the wheelhouse folder (made by tools/make_wheelhouse.sh)"
      OFFLINE="$(cd "$2" 2>/dev/null && pwd)" || die "--offline: no folder '$2'"
      ls "$OFFLINE"/mmcv-*.tar.gz >/dev/null 2>&1 \
        || die "--offline: '$OFFLINE' holds no mmcv sdist; make it with tools/make_wheelhouse.sh"
      shift 2 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

command -v "$PYTHON" >/dev/null 2>&1 \
  || die "no Python interpreter '$PYTHON' found; install Python 3.11 (or set PYTHON=...)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 8) else 1)' \
  || die "$("$PYTHON" --version 2>&1) is too old; Python 3.11 is what this stack is pinned for"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "'$PYTHON' has no venv/ensurepip module (Debian: apt-get install python3-venv)"

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  venv_args=()
  [ "${PRTR_SYSTEM_SITE_PACKAGES:-0}" = 1 ] && venv_args=(--system-site-packages)
  "$PYTHON" -m venv "${venv_args[@]}" "$VENV" || die "could not create the virtual environment at $VENV"
fi
PY="$VENV/bin/python"

# Pins for every pip call. A torch the environment already has (put there by
# hand, or the system's through PRTR_SYSTEM_SITE_PACKAGES=1) is kept: it is
# pinned at its own version, so pip picks the torchvision built for it and
# never replaces it.
PINS="$VENV/.prtr-constraints.txt"
have_torch="$("$PY" -c 'from importlib.metadata import version; print(version("torch").split("+")[0])' 2>/dev/null || true)"
if [ -n "$have_torch" ] && ! grep -qx "torch==$have_torch" "$CONSTRAINTS"; then
  log "keeping the environment's torch $have_torch (the pin is $(grep '^torch==' "$CONSTRAINTS"))"
  { grep -v -E '^(torch|torchvision)==' "$CONSTRAINTS"; echo "torch==$have_torch"; } > "$PINS"
else
  cp "$CONSTRAINTS" "$PINS"
fi
PIP=("$PY" -m pip install --disable-pip-version-check -c "$PINS")
if [ -n "$OFFLINE" ]; then
  PIP+=(--no-index --find-links "$OFFLINE")
  # also for the pip that setuptools' `develop` starts for the editable install
  export PIP_NO_INDEX=1 PIP_FIND_LINKS="$OFFLINE"
fi

# CUDA ops when torch sees a GPU or FORCE_CUDA=1 (FORCE_CUDA=0 forces CPU ops).
cuda_build() {
  case "${FORCE_CUDA:-}" in
    1) return 0 ;;
    0) return 1 ;;
  esac
  "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1
}
mmcv_has_cuda() {
  "$PY" -c 'import sys; from mmcv.ops import get_compiling_cuda_version as v; sys.exit(v() == "not available")' >/dev/null 2>&1
}

# The stamp records the pins the environment was built from.
want_stamp="$(cat "$PINS" "$ROOT"/requirements/runtime.txt "$ROOT"/requirements/tests.txt | sha256sum | cut -c1-16)"

stack_ok() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
    && "$PY" -c 'import mmcv.ops, mmdet, mmpose, mmengine, xtcocotools' >/dev/null 2>&1 \
    && { ! cuda_build || mmcv_has_cuda; }
}

if stack_ok; then
  log "pinned stack already installed in $VENV"
else
  log "installing torch and build tools${OFFLINE:+ from $OFFLINE}"
  "${PIP[@]}" -r "$ROOT/requirements/build.txt"

  if cuda_build && ! mmcv_has_cuda; then
    "$PY" -m pip uninstall -y -q mmcv 2>/dev/null || true
  fi
  if ! "$PY" -c 'import mmcv.ops' >/dev/null 2>&1; then
    command -v "${CXX:-g++}" >/dev/null 2>&1 \
      || die "no C++ compiler ('${CXX:-g++}') found; mmcv is built from source (Debian: apt-get install g++)"
    # mmcv 2.1.0's setup.py hard-codes -std=c++17 (C++ and CUDA) after any
    # flags given, but torch >= 2.14's headers require C++20: compile
    # through wrappers that rewrite the flag.
    std_wrapper() {  # std_wrapper NAME COMPILER
      cat > "$VENV/bin/$1" <<WRAP
#!/usr/bin/env bash
args=()
for a in "\$@"; do case "\$a" in -std=c++14|-std=c++17) a="-std=c++20" ;; esac; args+=("\$a"); done
exec $2 "\${args[@]}"
WRAP
      chmod +x "$VENV/bin/$1"
    }
    std_wrapper prtr-cxx "$(command -v "${CXX:-g++}")"
    build_env=(CXX="$VENV/bin/prtr-cxx" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}")
    cache=()
    if cuda_build; then
      nvcc="${CUDA_HOME:+$CUDA_HOME/bin/}nvcc"
      command -v "$nvcc" >/dev/null 2>&1 \
        || die "a CUDA build of mmcv needs nvcc (CUDA's compiler): put it on PATH or set CUDA_HOME; FORCE_CUDA=0 builds CPU ops"
      arch="${TORCH_CUDA_ARCH_LIST:-$("$PY" -c 'import torch
print(" ".join(sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})))' 2>/dev/null || true)}"
      [ -n "$arch" ] || die "no GPU visible to read the architecture from: set TORCH_CUDA_ARCH_LIST (e.g. 9.0 for H100/H200, 8.0 for A100)"
      std_wrapper prtr-nvcc "$(command -v "$nvcc")"
      # CUDA_HOME, else the toolkit around nvcc (nvcc may be a wrapper script
      # elsewhere on PATH), else /usr/local/cuda.
      cuda_home="${CUDA_HOME:-}"
      if [ -z "$cuda_home" ]; then
        for d in "$(dirname "$(dirname "$(readlink -f "$(command -v "$nvcc")")")")" /usr/local/cuda; do
          [ -f "$d/include/cuda_runtime.h" ] && { cuda_home="$d"; break; }
        done
      fi
      [ -n "$cuda_home" ] || die "found nvcc but not CUDA's headers (include/cuda_runtime.h): set CUDA_HOME to the CUDA toolkit"
      build_env+=(CUDA_HOME="$cuda_home" FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" PYTORCH_NVCC="$VENV/bin/prtr-nvcc")
      # pip's wheel cache knows one mmcv build per sdist, not per device:
      # a CUDA build neither reads nor fills it.
      cache=(--no-cache-dir)
      log "building mmcv 2.1.0 with CUDA ops for TORCH_CUDA_ARCH_LIST='$arch' ($(command -v "$nvcc"), ${MAX_JOBS:-$(nproc)} jobs)"
    else
      build_env+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES="")
      log "building mmcv 2.1.0 with CPU ops (about 10 minutes on 2 cores unless pip's wheel cache has it)"
    fi
    env "${build_env[@]}" "${PIP[@]}" "${cache[@]}" --no-build-isolation mmcv
    if cuda_build && ! mmcv_has_cuda; then
      die "mmcv was built without its CUDA ops (see the build log above)"
    fi
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
