#!/usr/bin/env bash
# smt: the Stride Memory Transformer against its two baselines (GPT-2 with full context, GPT-2 over the
# m-token window without memory), same data and steps; see docs/smt.md.
#   MODE=quick  tiny models (d 32, 1+1 layers, n 3, m 12, stride 4, sequences of 64, batch 4, 12 steps), real WikiText-2
#               (GPT-2 tokenizer) when SSMLAB_DATA_DIR is set, else the generated story corpus; then
#               smt_compare and smt_plot_results. Well under 90 s on 2 cores.
#   MODE=full   the GPU comparison: smt/configs/wikitext2_experiment.yaml for the three archs on --device
#               cuda (hours on an H200; needs SSMLAB_DATA_DIR). On a CPU machine it is skipped.
# env: MODE, OUT, LOGS, PLOTS, BIN
set -euo pipefail
source "$(dirname "$0")/../lib/reproduce-step.sh"
step_env smt smt_train "LibTorch, models/ and hf/"
LOG="$LOGS/smt.jsonl"
RESULTS="$OUT/results/smt_$MODE"
rm -rf "$RESULTS"
if [ -n "${SSMLAB_DATA_DIR:-}" ]; then DATA=(--data-dir "$SSMLAB_DATA_DIR"); else DATA=(--allow-generated-text); fi
if [ "$MODE" = full ]; then
  command -v nvidia-smi >/dev/null 2>&1 || { echo "[smt] MODE=full needs a GPU (--device cuda): skipped" >&2; exit 1; }
  COMMON=(--config "$ROOT/smt/configs/wikitext2_experiment.yaml" --device cuda)
else
  COMMON=(--d-model 32 --n-layer 1 --n-head 2 --memory-layers 1 --d-state 8 --n-ssm-outputs 3 --m-input-tokens 12 --stride 4
          --max-seq-length 64 --batch-size 4 --tbptt-chunk 32 --steps 12 --warmup 2 --lr 3e-3 --pooling-lr 3e-3 --dropout 0
          --eval-every 6 --ckpt-every 6 --train-max-seqs 128 --val-max-seqs 8 --threads 2)
fi
rc=0
for arch in smt gpt2_window gpt2_full; do
  "$BIN/smt_train" "${COMMON[@]}" "${DATA[@]}" --arch "$arch" --results "$RESULTS" --out "$OUT" --log "$LOG" --quiet || rc=1
done
"$BIN/smt_compare" --results "$RESULTS" --log "$LOG" --quiet || rc=1
for d in "$RESULTS"/*/*/; do
  "$BIN/smt_plot_results" --result-dir "$d" --log "$LOG" --quiet >/dev/null || rc=1
done
cp "$RESULTS/compare_runs.png" "$PLOTS/smt_${MODE}_compare_runs.png" 2>/dev/null || true
exit $rc
