#!/usr/bin/env bash
# README command 1: install (if needed), train the quick-start PRTR recipe
# (a small deformable PRTR, 30 epochs, seed 0; docs/quickstart_recipe.md) on
# the bundled COCO sample on CPU, evaluate COCO keypoint AP with mmpose's
# CocoMetric on the same images, and draw the predictions on a sample image.
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
python tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" \
  --out "$WORK_DIR/test_metrics.json"
# a table of four (the metrics above cover all 55 images; without --img-id
# the script draws the most crowded one, 11 people, mostly small)
python tools/visualize_sample.py "$CONFIG" "$CKPT" --img-id 790 \
  --out "$WORK_DIR/prediction.jpg"

LOG="$(ls -t "$WORK_DIR"/*/*.log | head -n 1)"
echo
echo "COCO keypoint metrics (bundled sample): $WORK_DIR/test_metrics.json"
echo "picture: $WORK_DIR/prediction.jpg"
echo "training log: $LOG"
