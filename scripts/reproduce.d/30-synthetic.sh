#!/usr/bin/env bash
# synthetic_tasks: copy / lookup / duplicate n-gram (Jelassi et al. 2024), see docs/synthetic.md.
#   MODE=quick  the quick preset, every model on copy, 2 runs at a time with 1 thread each
#               (OpenMP threads spin badly when oversubscribed); draws
#               "(a) Copying: training efficiency" and "(b) Copying: length generalisation"
#   MODE=full   the slim preset (matched 500k parameters, 40000 steps) for every model, lookup
#               and duplicate n-gram as well: hours on a CPU
# env: MODE, LOGS, PLOTS, BIN (OUT for run logs and checkpoints)
set -euo pipefail
source "$(dirname "$0")/../lib/reproduce-step.sh"
step_env synthetic synthetic_train "LibTorch and models/"
common=(--log "$LOGS/synthetic.jsonl" --plot "$PLOTS" --out "$OUT" --jobs 2 --threads 2 --seed 1)
if [ "$MODE" = full ]; then
  "$BIN/synthetic_sweep" "${common[@]}" --train-config "$ROOT/synthetic_tasks/configs/slim.json" \
    --models T_rope T_nope T_alibi T_hard_alibi mamba lstm --experiments copy lookup duplicate \
    --copy-args=--max-eval-len=100 --copy-args=--eval-len-step=5 --ema 0.3
else
  "$BIN/synthetic_sweep" "${common[@]}" --train-config "$ROOT/synthetic_tasks/configs/quick.json" \
    --models T_rope T_hard_alibi mamba lstm --experiments copy
fi
