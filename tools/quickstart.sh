#!/usr/bin/env bash
# README command 1: install (if needed), train the quick-start PRTR recipe
# (a small deformable PRTR, 30 epochs, seed 0; docs/quickstart_recipe.md) on
# the bundled COCO sample on CPU, evaluate COCO keypoint AP with mmpose's
# CocoMetric on the same images, drawing each person's prediction.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/install.sh
VENV="${PRTR_VENV:-$ROOT/.venv}"
# shellcheck disable=SC1091
source "$VENV/bin/activate"

CONFIG=configs/prtr_deform-res18-tiny_1xb8-30e_coco-mini-128x96.py
WORK_DIR="${WORK_DIR:-work_dirs/quickstart}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

python tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
CKPT="$(ls -t "$WORK_DIR"/epoch_*.pth | head -n 1)"
# mmpose's PoseVisualizationHook draws every person it tests, one picture
# each (IMAGE_INDEX.jpg, numbered after the pictures already there); an
# absolute --show-dir keeps them out of the timestamped log folder
SHOW_DIR="$(cd "$WORK_DIR" && pwd)/predictions"
rm -rf "$SHOW_DIR"
python tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" \
  --out "$WORK_DIR/test_metrics.json" --show-dir "$SHOW_DIR"

LOG="$(ls -t "$WORK_DIR"/*/*.log | head -n 1)"
echo
echo "COCO keypoint metrics (bundled sample): $WORK_DIR/test_metrics.json"
echo "picture: $SHOW_DIR/000000000790_0.jpg (every tested person: $SHOW_DIR)"
echo "training log: $LOG"
