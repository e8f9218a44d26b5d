#!/usr/bin/env bash
# Collect every file the stack needs for an offline install, except torch,
# into one folder, on a machine with PyPI:
#
#   tools/make_wheelhouse.sh DIR [--python 3.12|/path/to/python] [--torch 2.11.0]
#   # then on the offline node, in a venv that has torch (or
#   # PRTR_SYSTEM_SITE_PACKAGES=1 for the system's torch):
#   bash tools/install.sh --offline DIR
#
# --python: the node's Python (an interpreter of that version must exist
# here: python3.12 on PATH, pyenv's, or a path). --torch: the node's torch
# (default: the pinned one); the torchvision built for it is collected.
# What is collected: binary wheels for that Python of everything the pins
# resolve to (requirements/{build,runtime,tests}.txt, mmdet, mmpose,
# openmim), minus torch and what only torch needs (the node has them);
# a wheel built here for a package with no wheel for that Python
# (xtcocotools on 3.12); and mmcv's sdist, which install.sh --offline
# compiles on the node (CUDA ops there). Wheels are for this machine's
# platform (e.g. x86_64 glibc): run it on the node's architecture. The
# node's torch must be a PyPI release (its torchvision comes from PyPI).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "make_wheelhouse.sh: error: $*" >&2; exit 1; }
log() { echo "[make_wheelhouse.sh] $*" >&2; }

DIR="" PYV="" TORCH=""
while [ $# -gt 0 ]; do
  case "$1" in
    --python) [ $# -ge 2 ] || die "--python needs a version or an interpreter"; PYV="$2"; shift 2 ;;
    --torch) [ $# -ge 2 ] || die "--torch needs a version"; TORCH="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$DIR" ] || die "one DIR only"; DIR="$1"; shift ;;
  esac
done
[ -n "$DIR" ] || die "usage: make_wheelhouse.sh DIR [--python 3.12] [--torch 2.11.0]"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
TORCH="${TORCH:-$(sed -n 's/^torch==//p' "$CONSTRAINTS")}"

# The interpreter of the node's Python version.
case "$PYV" in
  "") INTERP="$(command -v python3)" ;;
  */*) INTERP="$PYV" ;;
  *) INTERP=""  # the first candidate that runs (a pyenv shim may not)
     for c in "$(command -v "python$PYV" || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$PYV"*/bin/python"$PYV"; do
       [ -x "$c" ] && "$c" -c '' 2>/dev/null && { INTERP="$c"; break; }
     done ;;
esac
[ -n "$INTERP" ] && [ -x "$INTERP" ] || die "no Python $PYV interpreter here (python$PYV on PATH, pyenv, or --python /path/to/python)"
"$INTERP" -c 'import venv' || die "'$INTERP' has no venv module"

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$INTERP" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip --disable-pip-version-check)
log "$("$WORK/venv/bin/python" --version), torch $TORCH"

# Pins of the stack with the node's torch (its torchvision left to pip).
grep -v -E '^(torch|torchvision)==' "$CONSTRAINTS" > "$WORK/pins.txt"
echo "torch==$TORCH" >> "$WORK/pins.txt"

# Build tools for a package that has no wheel for this Python and whose
# setup.py imports them undeclared (xtcocotools: numpy, Cython).
"${PIP[@]}" install -q -c "$WORK/pins.txt" setuptools wheel cython numpy

# Resolve from metadata only (no torch download), as the node's Python.
"${PIP[@]}" install -q --dry-run --ignore-installed --no-build-isolation --report "$WORK/report.json" \
  -c "$WORK/pins.txt" "torch==$TORCH" -r "$ROOT/requirements/build.txt" \
  -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

# What to fetch: everything resolved but torch and what only torch needs.
"$WORK/venv/bin/python" - "$WORK/report.json" "$WORK" <<'PY'
import json, sys
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name as canon

items = {canon(i['metadata']['name']): i
         for i in json.load(open(sys.argv[1]))['install']}


def deps(name, extras):
    for spec in items[name]['metadata'].get('requires_dist', []):
        req = Requirement(spec)
        if req.marker is None or any(
                req.marker.evaluate({'extra': e}) for e in ('', *extras)):
            if canon(req.name) in items:
                yield canon(req.name), tuple(req.extras)


# What the stack reaches from its own requirements, never through torch.
roots = [(n, ()) for n, i in items.items()
         if i.get('requested') and n != 'torch']
seen, todo = set(), roots
while todo:
    n, extras = todo.pop()
    if n != 'torch' and (n, extras) not in seen:
        seen.add((n, extras))
        todo.extend(deps(n, extras))
keep = sorted({n for n, _ in seen})
only_torch = set(items) - set(keep)
with open(f'{sys.argv[2]}/wheels.txt', 'w') as wheels, \
        open(f'{sys.argv[2]}/build.txt', 'w') as build:
    for n in keep:
        url = items[n]['download_info']['url']
        line = f'{items[n]["metadata"]["name"]}=={items[n]["metadata"]["version"]}\n'
        (wheels if url.endswith('.whl') else build).write(line)
print(f'{len(keep)} packages; left to the node with torch: '
      f'{", ".join(sorted(only_torch))}', file=sys.stderr)
PY

log "downloading the wheels"
"${PIP[@]}" download -q --no-deps --only-binary=:all: -d "$DIR" -r "$WORK/wheels.txt"
if [ -s "$WORK/build.txt" ]; then
  log "building wheels of packages without one for this Python: $(tr '\n' ' ' < "$WORK/build.txt")"
  "${PIP[@]}" wheel -q --no-deps --no-build-isolation -w "$DIR" -r "$WORK/build.txt"
fi
log "mmdet, mmpose, openmim (installed --no-deps) and mmcv's sdist"
"${PIP[@]}" download -q --no-deps -d "$DIR" -c "$WORK/pins.txt" mmdet mmpose openmim
"${PIP[@]}" download -q --no-deps --no-binary :all: -d "$DIR" -c "$WORK/pins.txt" mmcv
log "done: $DIR ($(du -sh "$DIR" | cut -f1), $(ls "$DIR" | wc -l) files); on the node: bash tools/install.sh --offline $DIR"
