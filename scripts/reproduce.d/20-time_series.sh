#!/usr/bin/env bash
# time_series: the N-sweep of exp_synthetic_ndecay (mixture of decays). Its figures (time_series/plots.json)
# are drawn by reproduce.sh through plot_logs --spec after check_logs.
#   env MODE=quick|full  LOGS (JSONL folder)  PLOTS (PNG folder)  BIN (binaries)
#   quick: the default problem (lambdas 0.9 0.5, 60 epochs), N = 1 2 4, mamba_diag_exp and
#          linear_rnn; the model library's baselines (when built) for 40 epochs; under 1 min on 2 cores.
#   full:  N = 1 2 3 4 8, more data, every model this build has, and a 3-decay problem.
set -euo pipefail
MODE=${MODE:-quick}
OUT=${OUT:-outputs}
LOGS=${LOGS:-$OUT/logs}
PLOTS=${PLOTS:-$OUT/plots}
BIN=${BIN:-build/bin}
THREADS=${THREADS:-2}
LOG="$LOGS/time_series.jsonl"
mkdir -p "$LOGS" "$PLOTS"

exe="$BIN/exp_synthetic_ndecay"
if [ ! -x "$exe" ]; then
  echo "[time_series] $exe not built (LibTorch missing?)" >&2
  exit 1
fi
mapfile -t available < <("$exe" --list-models)
echo "[time_series] models in this build: ${available[*]}"

common=(--log "$LOG" --threads "$THREADS" --seed 42 --T 100 --lambdas 0.9 0.5 --coeffs 1.0 0.7 --noise-std 1e-4)
if [ "$MODE" = full ]; then
  "$exe" "${common[@]}" --models "${available[@]}" --N-values 1 2 3 4 8 --epochs 100 --n-train 1024 --n-val 256
  # a harder 3-decay problem, exploratory (not covered by checks.json; see docs/time_series.md)
  "$exe" --log "$LOGS/time_series_3decays.jsonl" --threads "$THREADS" --seed 7 --lambdas 0.95 0.7 0.3 --coeffs 1.0 -0.5 0.8 \
    --models mamba_diag_exp --N-values 2 3 4 --epochs 100
else
  "$exe" "${common[@]}" --models mamba_diag_exp linear_rnn --N-values 1 2 4 --epochs 60
  # the model library's baselines (Adam minibatches, more costly per epoch than L-BFGS on the decay models)
  lib=()
  for m in "${available[@]}"; do case "$m" in T_nope|T_alibi|lstm) lib+=("$m") ;; esac; done
  if [ ${#lib[@]} -gt 0 ]; then
    "$exe" "${common[@]}" --models "${lib[@]}" --N-values 1 2 4 --epochs 40 --n-train 128
  fi
fi
