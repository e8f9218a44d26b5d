#!/usr/bin/env bash
# tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
# One task per GPU on a Slurm cluster, as mmpose's script of the same name;
# srun's options (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS) as in
# tools/slurm_train.sh, which runs it.
PRTR_SLURM_TOOL=test.py exec bash "$(dirname "$0")/slurm_train.sh" "$@"
