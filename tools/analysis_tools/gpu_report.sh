#!/usr/bin/env bash
# Every GPU measurement of the project in one command (issue 18), as one
# Markdown report and one JSON, for a short window on a lent GPU:
#
#   tools/analysis_tools/gpu_report.sh OUT_DIR [--device cuda|cpu]
#
# 1. benchmark.py in float32, AMP float16 and AMP bfloat16: PRTR R-50 vs
#    SimpleBaseline R-50, PRTR HRNet-W32 vs the HRNet-W32 heatmap head,
#    deformable PRTR R-50 vs SimpleBaseline R-50 (time, peak memory);
# 2. benchmark.py --cascade: the DETR cascade vs detector + two-stage PRTR;
# 3. benchmark_prtr_ops.py --compile: matching with both solvers vs the
#    official code, the head's step, host syncs in the loss path (GPU);
# 4. a short tools/dist_train.sh CONFIG 1 (5 epochs of the bundled sample's
#    139 persons, batch 32: 25 iterations) of the R-50 and the deformable
#    R-50 configs (on a GPU this runs mmcv's CUDA deformable attention).
#
# Each step is cut at STEP_TIMEOUT seconds (default 300) and the report is
# rewritten after every step.
#
# --device cpu runs the steps at toy sizes (input 96x128, batch 2, 2
# iterations, no HRNet, no AMP): it checks the command end to end, its
# numbers mean nothing.
# A step that fails is reported as failed and the others still run; the
# exit status is 1 if any failed.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
die() { echo "gpu_report.sh: error: $*" >&2; exit 2; }

OUT=""
DEVICE=cuda
while [ $# -gt 0 ]; do
  case "$1" in
    --device) [ $# -ge 2 ] || die "--device needs cuda or cpu"; DEVICE="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$OUT" ] || die "one OUT_DIR only"; OUT="$1"; shift ;;
  esac
done
[ -n "$OUT" ] || die "usage: gpu_report.sh OUT_DIR [--device cuda|cpu]"
case "$DEVICE" in cuda|cpu) ;; *) die "--device: cuda or cpu, not '$DEVICE'" ;; esac
mkdir -p "$OUT" || die "cannot create '$OUT'"
OUT="$(cd "$OUT" && pwd)"
cd "$ROOT"
python -c 'import prtr' 2>/dev/null || die "prtr is not importable: source the venv of tools/install.sh first"
if [ "$DEVICE" = cuda ]; then
  python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' \
    || die "torch sees no CUDA device (--device cpu for a dry run)"
fi

C=configs
R50=$C/prtr_res50_4xb32-200e_coco-384x288.py
W32=$C/prtr_hrnet-w32_4xb16-200e_coco-384x288.py
DEF=$C/prtr_deform-res50_4xb16-100e_coco-384x288.py
SB=$C/baselines/td-hm_res50_8xb64-210e_coco-384x288.py
HM=$C/baselines/td-hm_hrnet-w32_8xb64-210e_coco-384x288.py
PAIRS=(--pair $R50 $SB --pair $W32 $HM --pair $DEF $SB)
if [ "$DEVICE" = cuda ]; then
  BENCH=(--device cuda --rounds 3 --min-run-time 1)  # bounded: a short GPU window
  OPS=(--device cuda --compile)
  ITERS=20 BATCH=32
else
  BENCH=(--device cpu --input-size 96 128 --batch-sizes 1 2 --train-batch 2 --rounds 1 --min-run-time 0)
  PAIRS=(--pair $R50 $SB --pair $DEF $SB)  # HRNet-W32 skipped: minutes on a CPU
  OPS=(--device cpu --repeats 2 --skip-step)
  ITERS=2 BATCH=2
fi

# The report: the steps' status, then each Markdown section; one JSON.
report() {
python - "$OUT" "$DEVICE" "${NAMES[@]}" -- "${CODES[@]}" <<'PY'
import json, os, sys
out, device = sys.argv[1], sys.argv[2]
rest = sys.argv[3:]
names, codes = rest[:rest.index('--')], rest[rest.index('--') + 1:]
status = {n: dict(zip(('exit', 'seconds'), map(int, c.split())))
          for n, c in zip(names, codes)}
order = ['bench_fp32', 'bench_amp_fp16', 'bench_amp_bf16', 'bench_cascade',
         'prtr_ops', 'train_res50', 'train_deform_res50']
names = [n for n in order if n in status]
lines = [f'# GPU report ({device})', '', '```',
         open(os.path.join(out, 'environment.txt')).read().strip(), '```', '',
         '| step | exit | seconds |', '|---|---:|---:|']
lines += [f'| {n} | {status[n]["exit"]} | {status[n]["seconds"]} |'
          for n in names]
report = dict(device=device, status=status)
for n in names:
    md, js = (os.path.join(out, f'{n}.{e}') for e in ('md', 'json'))
    lines += ['', f'## {n}', '']
    if os.path.exists(md):
        lines.append(open(md).read().strip())
    else:  # the step's own output, last lines
        text = open(os.path.join(out, f'{n}.log')).read().splitlines()
        lines += ['```'] + text[-40:] + ['```']
    if os.path.exists(js):
        report[n] = json.load(open(js))
open(os.path.join(out, 'report.md'), 'w').write('\n'.join(lines) + '\n')
json.dump(report, open(os.path.join(out, 'report.json'), 'w'), indent=1)
PY
}

# Each step: its output in OUT/NAME.log, a time limit (STEP_TIMEOUT seconds,
# default 300: the lent GPU's window is short), and the report rewritten
# after it, so a report exists whatever stops the command.
NAMES=() CODES=()
step() {  # step NAME COMMAND...
  local name="$1"; shift
  echo "== $name: $*" >&2
  local t0=$SECONDS
  timeout "${STEP_TIMEOUT:-300}" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  NAMES+=("$name") CODES+=("$rc $((SECONDS - t0))")
  [ $rc -eq 0 ] || echo "   failed (exit $rc$([ $rc = 124 ] && echo ': time limit')), see $OUT/$name.log" >&2
  report
}

python -c 'import torch, mmcv
from mmcv.ops import get_compiling_cuda_version as v
print("torch", torch.__version__, "CUDA", torch.version.cuda, "| mmcv", mmcv.__version__, "ops built with CUDA:", v())
for i in range(torch.cuda.device_count()): print("device", i, torch.cuda.get_device_name(i), "capability %d.%d" % torch.cuda.get_device_capability(i))' \
  >"$OUT/environment.txt" 2>&1
command -v nvidia-smi >/dev/null && nvidia-smi >>"$OUT/environment.txt" 2>&1

B=tools/analysis_tools/benchmark.py
step bench_fp32 python $B "${BENCH[@]}" "${PAIRS[@]}" --out "$OUT/bench_fp32.md" --json "$OUT/bench_fp32.json"
if [ "$DEVICE" = cuda ]; then
  step bench_amp_fp16 python $B "${BENCH[@]}" "${PAIRS[@]}" --amp float16 --out "$OUT/bench_amp_fp16.md" --json "$OUT/bench_amp_fp16.json"
  step bench_amp_bf16 python $B "${BENCH[@]}" "${PAIRS[@]}" --amp bfloat16 --out "$OUT/bench_amp_bf16.md" --json "$OUT/bench_amp_bf16.json"
  step bench_cascade python $B --device cuda --cascade $C/prtr-cascade_res50_8xb4-150e_coco-640x640.py --out "$OUT/bench_cascade.md" --json "$OUT/bench_cascade.json"
else
  step bench_cascade python $B --device cpu --cascade $C/prtr-cascade_res50_8xb4-150e_coco-640x640.py \
    --image-size 192 192 --persons 1 --rounds 1 --min-run-time 0 \
    --out "$OUT/bench_cascade.md" --json "$OUT/bench_cascade.json"
fi
step prtr_ops python tools/analysis_tools/benchmark_prtr_ops.py "${OPS[@]}"

# Training through the tools on the bundled sample: no COCO, no pretrained
# weights on a lent machine. ITERS iterations of BATCH persons.
SAMPLE=data/coco_persons_mini/
# (139 persons: ceil(ITERS * BATCH / 139) epochs; on the CPU the first
# ITERS * BATCH persons, one epoch)
epochs=$(( (ITERS * BATCH + 138) / 139 ))
subset=()
[ "$DEVICE" = cpu ] && subset=(train_dataloader.dataset.indices=$((ITERS * BATCH)))
for pair in "train_res50 $R50" "train_deform_res50 $DEF"; do
  set -- $pair
  step "$1" env PORT="${PORT:-29512}" \
    bash tools/dist_train.sh "$2" 1 --work-dir "$OUT/work_$1" --no-validate --cfg-options \
    train_dataloader.dataset.data_root=$SAMPLE \
    train_dataloader.dataset.ann_file=annotations/person_keypoints_train2017.json \
    train_dataloader.dataset.data_prefix.img=train2017/ \
    train_dataloader.batch_size=$BATCH train_dataloader.num_workers=2 \
    train_cfg.max_epochs=$epochs model.backbone.init_cfg=None \
    default_hooks.checkpoint.interval=1000 ${subset[@]+"${subset[@]}"}
done

echo "report: $OUT/report.md, $OUT/report.json" >&2
for c in "${CODES[@]}"; do
  [ "${c%% *}" = 0 ] || exit 1
done
