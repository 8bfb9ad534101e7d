#!/usr/bin/env bash
# duality: SSM ≡ semiseparable attention in double-precision Eigen (docs/duality.md).
# env: MODE=quick|full OUT LOGS BIN. quick: ~1-2 min on 2 cores; full: the paper-size grids.
# Every run appends to $LOGS/duality.jsonl. The figures are drawn from that log afterwards, by
# scripts/reproduce.sh (plot_logs --spec duality/plots.json --logs $LOGS/duality.jsonl --plot-dir $PLOTS,
# after check_logs): each figure shows the newest run of its experiment, so the plotting runs below
# come last. Exit non-zero if any run failed.
set -uo pipefail
MODE=${MODE:-quick} OUT=${OUT:-outputs}
LOGS=${LOGS:-$OUT/logs} BIN=${BIN:-build/bin}
LOG="$LOGS/duality.jsonl"
mkdir -p "$LOGS"
failed=0
run() {
  echo "[duality] $*"
  "$BIN/$1" "${@:2}" --log "$LOG" --out "$OUT" --quiet || { echo "[duality] FAILED (exit $?): $*" >&2; failed=1; }
}

if [ "$MODE" = full ]; then
  run verify_ssd
  run run_and_log --experiment all --repeats 10 --exp2-n-list 1 2 4 8 16 \
      --exp3-T-values 15 30 60 120 --exp3-seeds 0 1 2 3 4 --exp3-random-n 20 \
      --exp4-T-values 300 600 1200 2400 4800 --exp5-T-values 80 160 320 640
  run exp3b_rank_vs_state_dim --N-values 1 2 3 4 5 6 7 8 10 12 --seeds 0 1 2 3 4 5 6 7 8 9 --T 64
  run exp4_time_scaling --T-values 300 600 1200 2400 4800 --repeats 15 --end-to-end
  run exp4b_time_scaling_errorbars --T-values 250 500 1000 2000 4000 --n-trials 20 --n-repeats 10
  run exp5b_softmax_rank_growth --T-values 32 64 128 256 512 --seeds 0 1 2 3 4 5 6 7 8 9
  run exp6_chunked_ssd --T-values 256 512 1024 2048 4096 8192 --chunks 16 64 100 256 --max-T-full 4096
else
  run verify_ssd
  # verify_ssd ran every experiment with its defaults; the grids add exp2/exp3 cases
  run run_and_log --experiment exp2 --exp2-n-list 1 2 4 8
  run run_and_log --experiment exp3 --exp3-T-values 15 30 60 --exp3-seeds 0 1 2 --exp3-random-n 6
  # the figures' runs (verify_ssd ran these with the same defaults; the figures show the newest run)
  run exp3b_rank_vs_state_dim
  run exp4_time_scaling --T-values 250 500 1000 2000 --end-to-end
  run exp4b_time_scaling_errorbars
  run exp5b_softmax_rank_growth
  run exp6_chunked_ssd
fi
exit $failed
