#!/usr/bin/env bash
# synthetic_tasks: copy / lookup / duplicate n-gram (Jelassi et al. 2024), see docs/synthetic.md.
#   MODE=quick  the quick preset, 4 models on copy, 2 runs at a time with 1 thread each
#               (OpenMP threads spin badly when oversubscribed)
#   MODE=full   the slim preset (matched 500k parameters, 40000 steps) for every model, lookup
#               and duplicate n-gram as well: hours on a CPU
# The runs go through synthetic_tasks/sweeps/sweep.sh and write $LOGS/synthetic.jsonl; the figures
# are drawn from that log afterwards (plot_logs --spec synthetic_tasks/plots.json), not here.
# env: MODE, LOGS, BIN (OUT for run outputs and checkpoints)
set -euo pipefail
source "$(dirname "$0")/../lib/reproduce-step.sh"
step_env synthetic synthetic_train "LibTorch and models/"
sweep=("$ROOT/synthetic_tasks/sweeps/sweep.sh" --train-bin "$BIN/synthetic_train" --log "$LOGS/synthetic.jsonl"
       --out "$OUT" --jobs 2 --threads 2 --seed 1)
if [ "$MODE" = full ]; then
  "${sweep[@]}" --train-config "$ROOT/synthetic_tasks/configs/slim.json" \
    --models T_rope T_nope T_alibi T_hard_alibi mamba lstm --experiments copy lookup duplicate \
    --copy-args "--max-eval-len 100 --eval-len-step 5"
else
  "${sweep[@]}" --train-config "$ROOT/synthetic_tasks/configs/quick.json" \
    --models T_rope T_hard_alibi mamba lstm --experiments copy
fi
