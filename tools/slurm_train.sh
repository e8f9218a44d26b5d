#!/usr/bin/env bash
# tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# One task per GPU on a Slurm cluster, as mmpose's script of the same name
# (tools/slurm_test.sh runs test.py through it).
# Env: GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS, PYTHON.
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
TOOL=${PRTR_SLURM_TOOL:-train.py}
if [ "$TOOL" = train.py ]; then
  FOURTH=(--work-dir="$4")   # WORK_DIR
else
  FOURTH=("$4")              # test.py's CHECKPOINT
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
# shellcheck disable=SC2206
SRUN_ARGS=(${SRUN_ARGS:-})

PYTHONPATH="$(dirname "$0")/../projects":$PYTHONPATH \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    "${SRUN_ARGS[@]}" \
    "${PYTHON:-python}" -u "$(dirname "$0")/$TOOL" "$CONFIG" "${FOURTH[@]}" \
    --launcher=slurm "${@:5}"
