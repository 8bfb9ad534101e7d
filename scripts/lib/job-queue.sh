# Sourced: a small job queue for runs that share a few GPUs (or the CPU).
#   source scripts/lib/job-queue.sh
#   job_queue JOBFILE "GPUS" PER_GPU DEADLINE_EPOCH LOGDIR
# JOBFILE: one job per line, "NAME<TAB>EXPECTED SECONDS<TAB>SHELL COMMAND", taken in file order (put
# the important and the long ones first). GPUS: space-separated device ids ("0 1"), or "cpu". PER_GPU workers share each device; a
# worker takes the next job, runs it with CUDA_VISIBLE_DEVICES set to its device (empty for cpu) under
# `timeout` until DEADLINE_EPOCH, output to LOGDIR/NAME.log, and prints one line per job:
#   [jobs] NAME gpu=G exit=RC SECONDS s        (RC 124: stopped at the deadline)
# A job whose expected seconds do not fit before the deadline is not started ("not started"), so the
# budget is not spent on runs that would be cut before their final evaluation.
# Returns 0 when every job ran and exited 0, else 1; LOGDIR/jobs.status has one line per job.
job_queue() {
  local jobs=$1 gpus=$2 per=$3 deadline=$4 logdir=$5
  [ -f "$jobs" ] || { echo "job_queue: no job file $jobs" >&2; return 2; }
  [[ "$per" =~ ^[1-9][0-9]*$ ]] || { echo "job_queue: PER_GPU must be a positive integer, got '$per'" >&2; return 2; }
  mkdir -p "$logdir"
  local counter="$logdir/.next" lock="$logdir/.lock" status="$logdir/jobs.status"
  echo 0 > "$counter"; : > "$status"
  _job_worker() {
    local dev=$1 i line name est cmd left t0 rc visible
    [ "$dev" = cpu ] && visible= || visible=$dev
    while :; do
      i=$(flock "$lock" bash -c 'i=$(cat "$1"); echo $((i + 1)) > "$1"; echo "$i"' _ "$counter")
      line=$(sed -n "$((i + 1))p" "$jobs")
      [ -z "$line" ] && return 0
      IFS=$'\t' read -r name est cmd <<< "$line"
      left=$(( deadline - $(date +%s) ))
      if (( left < est )); then
        echo "[jobs] $name not started: expected $est s, $left s left before the deadline"
        echo "$name not_started" >> "$status"; continue
      fi
      t0=$(date +%s)
      CUDA_VISIBLE_DEVICES=$visible timeout "$left" bash -c "$cmd" > "$logdir/$name.log" 2>&1; rc=$?
      echo "[jobs] $name gpu=$dev exit=$rc $(( $(date +%s) - t0 )) s"
      echo "$name $rc $(( $(date +%s) - t0 ))" >> "$status"
    done
  }
  local g k
  for g in $gpus; do for ((k = 0; k < per; k++)); do _job_worker "$g" & done; done
  wait
  ! grep -qv ' 0 [0-9]*$' "$status"
}
