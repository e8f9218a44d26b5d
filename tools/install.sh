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
  if [ "${PRTR_SYSTEM_SITE_PACKAGES:-0}" = 1 ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi || die "could not create the virtual environment at $VENV"
elif [ "${PRTR_SYSTEM_SITE_PACKAGES:-0}" = 1 ] \
    && ! grep -q 'include-system-site-packages = true' "$VENV/pyvenv.cfg" 2>/dev/null; then
  log "warning: PRTR_SYSTEM_SITE_PACKAGES=1, but $VENV exists without system site packages (remove it to recreate)"
fi
PY="$VENV/bin/python"

# Pins for every pip call. A torch that was there before install.sh built
# the environment (put there by hand, or the system's through
# PRTR_SYSTEM_SITE_PACKAGES=1) is kept, recorded in $KEPT: it is pinned at
# its own version, so pip picks the torchvision built for it and never
# replaces it. A torch install.sh installed follows the pin.
PINS="$VENV/.prtr-constraints.txt"
KEPT="$VENV/.prtr-kept-torch"
have_torch="$("$PY" -c 'from importlib.metadata import version; print(version("torch").split("+")[0])' 2>/dev/null || true)"
torch_outside="$("$PY" -c 'import importlib.util as u, sys; s = u.find_spec("torch"); print(int(s is not None and not s.origin.startswith(sys.prefix)))' 2>/dev/null || echo 0)"
if [ -n "$have_torch" ] && ! grep -qx "torch==$have_torch" "$CONSTRAINTS" \
    && { [ ! -f "$STAMP" ] || [ "$torch_outside" = 1 ] || [ "$(cat "$KEPT" 2>/dev/null)" = "$have_torch" ]; }; then
  log "keeping the environment's torch $have_torch (the pin is $(grep '^torch==' "$CONSTRAINTS"))"
  echo "$have_torch" > "$KEPT"
  { grep -v -E '^(torch|torchvision)==' "$CONSTRAINTS"; echo "torch==$have_torch"; } > "$PINS"
else
  rm -f "$KEPT"
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
# The architectures to build for: TORCH_CUDA_ARCH_LIST, else the devices'.
cuda_arch() {
  [ -n "${TORCH_CUDA_ARCH_LIST:-}" ] && { echo "$TORCH_CUDA_ARCH_LIST"; return; }
  "$PY" -c 'import torch
print(" ".join(sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})))' 2>/dev/null || true
}

# The stamp records the pins the environment was built from (and the CUDA
# architectures of a CUDA build).
stamp_of() {
  arch=""
  if cuda_build; then arch="$(cuda_arch)"; fi
  want_stamp="$(cat "$PINS" "$ROOT"/requirements/runtime.txt "$ROOT"/requirements/tests.txt | sha256sum | cut -c1-16)${arch:+ cuda $arch}"
}
stamp_of

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
  stamp_of  # torch is there now: does it see a GPU?

  build_env=(MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" PATH="$VENV/bin:$PATH")
  if cuda_build; then
    # everything a CUDA build needs is checked before a working mmcv goes
    nvcc="${CUDA_HOME:+$CUDA_HOME/bin/}nvcc"
    command -v "$nvcc" >/dev/null 2>&1 \
      || die "a CUDA build of mmcv needs nvcc (CUDA's compiler): put it on PATH or set CUDA_HOME; FORCE_CUDA=0 builds CPU ops"
    # CUDA_HOME, else the toolkit around nvcc (nvcc may be a wrapper script
    # elsewhere on PATH), else /usr/local/cuda.
    cuda_home="${CUDA_HOME:-}"
    if [ -z "$cuda_home" ]; then
      for d in "$(dirname "$(dirname "$(readlink -f "$(command -v "$nvcc")")")")" /usr/local/cuda; do
        [ -f "$d/include/cuda_runtime.h" ] && { cuda_home="$d"; break; }
      done
    fi
    [ -n "$cuda_home" ] || die "found nvcc but not CUDA's headers (include/cuda_runtime.h): set CUDA_HOME to the CUDA toolkit"
    [ -n "$arch" ] || die "no GPU visible to read the architecture from: set TORCH_CUDA_ARCH_LIST (e.g. 9.0 for H100/H200, 8.0 for A100)"
    # pip's wheel cache knows one mmcv build per sdist, not per device or
    # architecture: a CUDA build neither reads nor fills it, and replaces
    # an mmcv without CUDA ops or built for other architectures (stamp).
    if ! mmcv_has_cuda || [ "$(sed -n 's/^[0-9a-f]* cuda //p' "$STAMP" 2>/dev/null)" != "$arch" ]; then
      "$PY" -m pip uninstall -y -q mmcv 2>/dev/null || true
    fi
  fi
  if ! "$PY" -c 'import mmcv.ops' >/dev/null 2>&1; then
    command -v "${CXX:-g++}" >/dev/null 2>&1 \
      || die "no C++ compiler ('${CXX:-g++}') found; mmcv is built from source (Debian: apt-get install g++)"
    # mmcv 2.1.0's setup.py hard-codes -std=c++17 (C++ and CUDA) after any
    # flags given, but torch >= 2.14's headers require C++20: compile
    # through wrappers that rewrite the flag. (torch reads PYTORCH_NVCC in
    # its ninja backend: the venv's ninja is put first on PATH.)
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
    build_env+=(CXX="$VENV/bin/prtr-cxx")
    if cuda_build; then
      std_wrapper prtr-nvcc "$(command -v "$nvcc")"
      build_env+=(CUDA_HOME="$cuda_home" FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" PYTORCH_NVCC="$VENV/bin/prtr-nvcc")
      log "building mmcv 2.1.0 with CUDA ops for TORCH_CUDA_ARCH_LIST='$arch' ($(command -v "$nvcc"), ${MAX_JOBS:-$(nproc)} jobs)"
      env "${build_env[@]}" "${PIP[@]}" --no-cache-dir --no-build-isolation mmcv
    else
      build_env+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES="")
      log "building mmcv 2.1.0 with CPU ops (about 10 minutes on 2 cores unless pip's wheel cache has it)"
      env "${build_env[@]}" "${PIP[@]}" --no-build-isolation mmcv
    fi
  fi
  if cuda_build && ! mmcv_has_cuda; then  # also a system mmcv pip cannot replace
    die "the environment's mmcv has no CUDA ops ($("$PY" -c 'import mmcv; print(mmcv.__file__)' 2>&1)); see the build log above"
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
