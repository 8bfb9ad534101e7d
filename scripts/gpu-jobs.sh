#!/usr/bin/env bash
# Runs independent jobs (one shell command per line of JOBS_FILE, empty lines skipped) spread over
# GPUs, one job per GPU at a time: each job sees only its GPU (CUDA_VISIBLE_DEVICES=<id>, so its
# --device auto/cuda is that GPU), the next job starts on the first GPU that frees up.
#   scripts/gpu-jobs.sh [--gpus 0,1] JOBS_FILE
# GPUs: --gpus, else $CUDA_VISIBLE_DEVICES, else every GPU nvidia-smi lists; with none, the jobs run
# one at a time on the CPU (CUDA_VISIBLE_DEVICES empty). A front end over scripts/lib/job-queue.sh
# (job_queue, with one worker per GPU and no deadline): the jobs are named job1, job2, ... in file
# order; each job's output (stdout and stderr) goes to a log file and is printed on stdout when the
# job ends, followed by job_queue's "[gpu-jobs] jobN done|FAILED ..." line on stderr, so the outputs
# of jobs running side by side do not interleave. While they run, the logs are in the folder named on
# the first line (removed at the end).
# Exit 0 when every job succeeded, 1 otherwise (each failure is named with its command), 2 when
# JOBS_FILE cannot be read.
# Used by scripts/reproduce.d/40-mamba_experiments.sh (MX_GPUS); docs/distributed.md, "Sweeps".
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/job-queue.sh"
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
logs=$(mktemp -d "${TMPDIR:-/tmp}/gpu-jobs.XXXXXX") || exit 1
trap 'rm -rf "$logs"' EXIT
# job_queue's job file: "NAME<TAB>EXPECTED SECONDS<TAB>COMMAND" (0 s: nothing is held back by a deadline).
cmds=()
while IFS= read -r cmd || [ -n "$cmd" ]; do
  [ -z "$cmd" ] && continue
  cmds+=("$cmd")
  printf 'job%d\t0\t%s\n' "${#cmds[@]}" "$cmd"
done <"$jobs_file" >"$logs/jobs.tsv"
echo "[gpu-jobs] ${#cmds[@]} jobs over ${#slots[@]} slot(s): ${slots[*]}; logs in $logs while they run" >&2
# One worker per GPU; no deadline (one far in the future). job_queue prints one line per job when it
# ends; this loop prints that job's log first (one reader, so logs never interleave).
job_queue "$logs/jobs.tsv" "${slots[*]}" 1 $(( $(date +%s) + 100000000 )) "$logs" gpu-jobs |
  while IFS= read -r line; do
    read -r _ name _ <<<"$line"
    [ -f "$logs/$name.log" ] && cat "$logs/$name.log"
    echo "${line%; see *}" >&2  # the log it points to was just printed (and goes away at the end)
  done
rc=${PIPESTATUS[0]}
while read -r name status _; do
  [ "$status" = 0 ] && continue
  cmd=${cmds[${name#job} - 1]}
  echo "[gpu-jobs] FAILED: $name (exit $status): ${cmd:0:120}" >&2
done <"$logs/jobs.status"
exit $(( rc == 0 ? 0 : 1 ))
