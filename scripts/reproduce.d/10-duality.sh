#!/usr/bin/env bash
# duality: SSM ≡ semiseparable attention in double-precision Eigen (docs/duality.md).
# env: MODE=quick|full OUT LOGS PLOTS BIN. quick: ~1-2 min on 2 cores; full: the paper-size grids.
# Every run appends to $LOGS/duality.jsonl; plots go to $PLOTS. Exit non-zero if any run failed.
set -uo pipefail
MODE=${MODE:-quick} OUT=${OUT:-outputs}
LOGS=${LOGS:-$OUT/logs} PLOTS=${PLOTS:-$OUT/plots} BIN=${BIN:-build/bin}
LOG="$LOGS/duality.jsonl"
mkdir -p "$LOGS" "$PLOTS"
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
  run exp3b_rank_vs_state_dim --N-values 1 2 3 4 5 6 7 8 10 12 --seeds 0 1 2 3 4 5 6 7 8 9 --T 64 \
      --plot "$PLOTS/exp3b_rank_vs_state_dim.png"
  run exp4_time_scaling --T-values 300 600 1200 2400 4800 --repeats 15 --end-to-end --plot "$PLOTS/exp4_time_scaling.png"
  run exp4b_time_scaling_errorbars --T-values 250 500 1000 2000 4000 --n-trials 20 --n-repeats 10 \
      --plot "$PLOTS/exp4b_time_scaling.png"
  run exp5b_softmax_rank_growth --T-values 32 64 128 256 512 --seeds 0 1 2 3 4 5 6 7 8 9 \
      --plot "$PLOTS/exp5b_rank_growth.png"
  run exp6_chunked_ssd --T-values 256 512 1024 2048 4096 8192 --chunks 16 64 100 256 --max-T-full 4096 \
      --plot "$PLOTS/exp6_chunked_ssd.png"
else
  run verify_ssd
  # verify_ssd ran every experiment with its defaults; the grids add exp2/exp3 cases
  run run_and_log --experiment exp2 --exp2-n-list 1 2 4 8
  run run_and_log --experiment exp3 --exp3-T-values 15 30 60 --exp3-seeds 0 1 2 --exp3-random-n 6
  run exp3b_rank_vs_state_dim --plot "$PLOTS/exp3b_rank_vs_state_dim.png"
  run exp4_time_scaling --T-values 250 500 1000 2000 --end-to-end --plot "$PLOTS/exp4_time_scaling.png"
  run exp4b_time_scaling_errorbars --plot "$PLOTS/exp4b_time_scaling.png"
  run exp5b_softmax_rank_growth --plot "$PLOTS/exp5b_rank_growth.png"
  run exp6_chunked_ssd --plot "$PLOTS/exp6_chunked_ssd.png"
fi
exit $failed
