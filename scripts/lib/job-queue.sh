# Sourced: the job queue every run list uses (synthetic_tasks/sweeps/sweep.sh, synthetic_tasks/paper_runs.sh):
# named shell commands, a few at a time on each GPU (or the CPU), within a deadline.
#   source scripts/lib/job-queue.sh
#   job_queue JOBFILE "GPUS" PER_GPU DEADLINE_EPOCH LOGDIR [LABEL] [LOG_PREFIX]
# JOBFILE: one job per line, "NAME<TAB>EXPECTED SECONDS<TAB>SHELL COMMAND", taken in file order (put
# the important and the long ones first). GPUS: space-separated device ids ("0 1"), or "cpu". PER_GPU
# workers share each device; a worker takes the next job, runs it with CUDA_VISIBLE_DEVICES set to its
# device (empty for cpu) under `timeout` until DEADLINE_EPOCH, output to LOGDIR/<LOG_PREFIX>NAME.log,
# and prints one line per job (LABEL defaults to "jobs"):
#   [LABEL] NAME done (exit 0) in S s[ on GPU G]: <the run's last output line>
#   [LABEL] NAME FAILED (exit RC) in S s[ on GPU G]; see LOGFILE        (RC 124: stopped at the deadline)
#   [LABEL] NAME not started: expected E s, L s left before the deadline
# A job whose expected seconds do not fit before the deadline is not started, so the budget is not spent
# on runs that would be cut before their final evaluation.
# Returns 0 when every job ran and exited 0, else 1; LOGDIR/<LOG_PREFIX>jobs.status has one line per
# job: "NAME RC SECONDS" or "NAME not_started".
# Interrupted (SIGINT, e.g. Ctrl-C, or SIGTERM): the running jobs are stopped (each runs under `timeout`
# in its own process group, which the terminal's Ctrl-C does not reach: the queue forwards SIGTERM to
# them), no new job starts, and job_queue returns 130.
job_queue() {
  local jobs=$1 gpus=$2 per=$3 deadline=$4 logdir=$5 label=${6:-jobs} prefix=${7:-}
  [ -f "$jobs" ] || { echo "job_queue: no job file $jobs" >&2; return 2; }
  [[ "$per" =~ ^[1-9][0-9]*$ ]] || { echo "job_queue: PER_GPU must be a positive integer, got '$per'" >&2; return 2; }
  mkdir -p "$logdir"
  local counter="$logdir/.${prefix}next" lock="$logdir/.${prefix}lock" status="$logdir/${prefix}jobs.status"
  local pids="$logdir/.${prefix}pids"  # the `timeout` process of every job started
  echo 0 > "$counter"; : > "$status"; : > "$pids"
  _job_worker() {
    local dev=$1 i line name est cmd left t0 rc dt visible on log
    [ "$dev" = cpu ] && { visible=; on=; } || { visible=$dev; on=" on GPU $dev"; }
    while :; do
      i=$(flock "$lock" bash -c 'i=$(cat "$1"); echo $((i + 1)) > "$1"; echo "$i"' _ "$counter")
      line=$(sed -n "$((i + 1))p" "$jobs")
      [ -z "$line" ] && return 0
      IFS=$'\t' read -r name est cmd <<< "$line"
      left=$(( deadline - $(date +%s) ))
      if (( left <= 0 || left < est )); then  # (timeout 0 would mean no limit)
        echo "[$label] $name not started: expected $est s, $left s left before the deadline"
        echo "$name not_started" >> "$status"; continue
      fi
      log="$logdir/$prefix$name.log"
      t0=$(date +%s)
      CUDA_VISIBLE_DEVICES=$visible timeout "$left" bash -c "$cmd" > "$log" 2>&1 &
      echo $! >> "$pids"
      wait $!; rc=$?
      dt=$(( $(date +%s) - t0 ))
      echo "$name $rc $dt" >> "$status"
      if [ $rc -eq 0 ]; then echo "[$label] $name done (exit 0) in $dt s$on: $(tail -n 1 "$log")"
      else echo "[$label] $name FAILED (exit $rc) in $dt s$on; see $log"; fi
    done
  }
  local g k stopped=0 workers=()
  trap 'stopped=1; echo "[$label] interrupted: stopping the running jobs" >&2
        kill -TERM "${workers[@]}" $(cat "$pids" 2>/dev/null) 2>/dev/null' INT TERM
  for g in $gpus; do for ((k = 0; k < per; k++)); do _job_worker "$g" & workers+=($!); done; done
  wait
  while (( stopped )) && [ -n "$(jobs -p)" ]; do wait; done  # a trapped signal ends `wait` early
  trap - INT TERM
  rm -f "$counter" "$lock" "$pids"
  (( stopped )) && return 130
  ! grep -qv ' 0 [0-9]*$' "$status"
}
