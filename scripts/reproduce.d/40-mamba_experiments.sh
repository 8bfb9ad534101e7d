#!/usr/bin/env bash
# mamba_experiments: mamba_simple (Mamba-1, selective scan) vs mamba_SSD_diag_exp (Mamba-2 / SSD,
# scalar decay per head) over seeds, with variance bands; see docs/mamba_experiments.md.
#   MODE=quick  recall (gap 4, solved in 72 steps) and WikiText-2 (the real raw files when SSMLAB_DATA_DIR is set, else
#               the generated story corpus), both models, seeds 0-2, small sizes (d 32, 2 layers,
#               N 8, windows of 64, vocab 2000), 2 runs at a time with 1 thread each. About two
#               minutes on 2 cores. The band figures (mamba_experiments/plots.json: val_loss and
#               val_ppl per data set, every model must have every seed) are drawn by reproduce.sh.
#   MODE=full   the original's comparison: WikiText-2, seq 128, vocab 20000, 5000/1000 windows,
#               d 64, N 16, 2 layers, 10 epochs, batch 64, lr 1e-3, seeds 0-9, both models
#               (a GPU job: ~1 s per step on 2 CPU cores), then the same on recall.
# env: MODE, LOGS, PLOTS, BIN (OUT for checkpoints and the token cache); full mode: MX_JOBS runs at a time
#      (default 1) with MX_THREADS threads each (default 0 = all), or MX_GPUS=0,1 (or MX_GPUS=all: the
#      visible GPUs): one run per GPU at a time through scripts/gpu-jobs.sh (MX_JOBS is then unused)
set -euo pipefail
source "$(dirname "$0")/../lib/reproduce-step.sh"
step_env mamba_experiments mamba_train "LibTorch, models/ and hf/"
LOG="$LOGS/mamba_experiments.jsonl"
MODELS=(mamba_simple mamba_SSD_diag_exp)
if [ "$MODE" = full ]; then
  SEEDS=(0 1 2 3 4 5 6 7 8 9); JOBS=${MX_JOBS:-1}; THREADS=${MX_THREADS:-0}
  SIZE=(--seq-len 128 --max-vocab 20000 --train-max-samples 5000 --val-max-samples 1000 --d-model 64 --n-state 16
        --n-layers 2 --epochs 10 --batch-size 64)
  RECALL=(--gap 16 --recall-vocab 16 --lr 1e-3); TEXT=(--lr 1e-3)
else
  SEEDS=(0 1 2); JOBS=2; THREADS=1
  SIZE=(--seq-len 64 --max-vocab 2000 --train-max-samples 384 --val-max-samples 64 --d-model 32 --n-state 8
        --n-layers 2 --headdim 16 --epochs 3 --batch-size 16)
  RECALL=(--gap 4 --recall-vocab 8 --lr 1e-2); TEXT=(--lr 3e-3)
fi
if [ -n "${SSMLAB_DATA_DIR:-}" ]; then WT=(--data-dir "$SSMLAB_DATA_DIR"); else WT=(--allow-generated-text); fi
WT+=("${TEXT[@]}")
jobs_file=$(mktemp)
for ds in recall wikitext2; do
  for seed in "${SEEDS[@]}"; do
    for m in "${MODELS[@]}"; do
      extra=("${RECALL[@]}"); [ "$ds" = wikitext2 ] && extra=("${WT[@]}")
      printf '%q ' "$BIN/mamba_train" --model "$m" --dataset "$ds" --seed "$seed" "${SIZE[@]}" "${extra[@]}" \
        --threads "$THREADS" --log "$LOG" --out "$OUT" --quiet \
        --checkpoint-dir "$OUT/checkpoints/mamba_experiments/${ds}_${m}_s${seed}" >>"$jobs_file"
      echo >>"$jobs_file"
    done
  done
done
echo "[mamba_experiments] $(wc -l <"$jobs_file") runs, $JOBS at a time"
rc=0
if [ "$MODE" = full ] && [ -n "${MX_GPUS:-}" ]; then
  gpu_args=(); [ "$MX_GPUS" = all ] || gpu_args=(--gpus "$MX_GPUS")
  "$ROOT/scripts/gpu-jobs.sh" "${gpu_args[@]}" "$jobs_file" || rc=1
else
  xargs -P "$JOBS" -I{} -d '\n' bash -c '{}' <"$jobs_file" || rc=1
fi
rm -f "$jobs_file"
exit $rc
