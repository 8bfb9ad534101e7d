#!/usr/bin/env bash
# Runs independent jobs (one shell command per line of JOBS_FILE, empty lines skipped) spread over
# GPUs, one job per GPU at a time: each job sees only its GPU (CUDA_VISIBLE_DEVICES=<id>, so its
# --device auto/cuda is that GPU), the next job starts on the first GPU that frees up.
#   scripts/gpu-jobs.sh [--gpus 0,1] JOBS_FILE
# GPUs: --gpus, else $CUDA_VISIBLE_DEVICES, else every GPU nvidia-smi lists; with none, the jobs run
# one at a time on the CPU. Exit 0 when every job succeeded, 1 otherwise (each failure is named).
# Used by scripts/reproduce.d/40-mamba_experiments.sh (MX_GPUS); docs/distributed.md, "Sweeps".
set -uo pipefail
gpus=""
if [ "${1:-}" = "--gpus" ]; then gpus=${2:?--gpus needs a list such as 0,1}; shift 2; fi
jobs_file=${1:?usage: gpu-jobs.sh [--gpus 0,1] JOBS_FILE}
[ -r "$jobs_file" ] || { echo "gpu-jobs: cannot read $jobs_file" >&2; exit 2; }
if [ -z "$gpus" ]; then
  if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then gpus=$CUDA_VISIBLE_DEVICES
  elif command -v nvidia-smi >/dev/null 2>&1; then gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | paste -sd, -)
  fi
fi
IFS=, read -r -a slots <<<"${gpus:-cpu}"
# A FIFO holds the free GPU ids: a job takes one before it starts and gives it back when it ends.
fifo=$(mktemp -u); mkfifo "$fifo"; exec 3<>"$fifo"; rm -f "$fifo"
for g in "${slots[@]}"; do echo "$g" >&3; done
echo "[gpu-jobs] $(grep -c . "$jobs_file") jobs over ${#slots[@]} slot(s): ${slots[*]}" >&2
pids=(); names=()
n=0
while IFS= read -r cmd || [ -n "$cmd" ]; do
  [ -z "$cmd" ] && continue
  n=$((n + 1))
  read -r g <&3
  (
    if [ "$g" = cpu ]; then bash -c "$cmd"; else CUDA_VISIBLE_DEVICES=$g bash -c "$cmd"; fi
    s=$?; echo "$g" >&3; exit $s
  ) &
  pids+=($!); names+=("job $n (slot $g): ${cmd:0:120}")
done <"$jobs_file"
rc=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then echo "[gpu-jobs] FAILED: ${names[$i]}" >&2; rc=1; fi
done
exit $rc
