#!/usr/bin/env bash
# The SMT comparison on one GPU (docs/smt.md, "GPU comparison"): the hybrid and its two baselines,
# GPT-2 with the full causal context and GPT-2 over the 50-token window without memory, from scratch,
# at the original's sizes (smt/configs/wikitext2_experiment.yaml) and the same training-token budget.
# Only the run folders' JSON/YAML files and the log come back, packed in $OUT/smt_gpu.tgz.
#   SSMLAB_DATA_DIR=<data> OUT=<dir> [TOKENS=524288] [BUDGET_S=540] [SKIP_BUILD=1] [WORK=gpu-smt] bash smt/gpu_compare.sh
# Expected time on one H200: ~20 s for gpt2_full, a few minutes each for the window models (every
# position runs GPT-2 over its own 65-vector window: ~65x the work of the full-context model).
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
OUT=${OUT:-gpu-results}
W=${WORK:-gpu-smt}   # the run folders and logs (WORK=/tmp/... keeps them out of the working tree)
DATA=${SSMLAB_DATA_DIR:?set SSMLAB_DATA_DIR to a folder with wikitext-2-raw/ and tokenizers/gpt2/}
TOKENS=${TOKENS:-524288}
BUDGET_S=${BUDGET_S:-540}
BIN=${BIN:-build-gpu/bin}
rm -rf $W && mkdir -p $OUT $W/logs
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ./scripts/gpu-build.sh smt_train || exit 1
  echo "build: $(( $(date +%s) - T0 )) s"
fi
for arch in gpt2_full gpt2_window smt; do
  left=$(( BUDGET_S - ($(date +%s) - T0) ))
  [ $left -lt 30 ] && { echo "budget: skipping $arch"; continue; }
  # the config's sizes; a short warm-up for the short budget; 16 validation sequences of 1024 tokens
  timeout $(( left - 10 )) $BIN/smt_train --config smt/configs/wikitext2_experiment.yaml --arch $arch --device cuda \
    --data-dir "$DATA" --max-tokens $TOKENS --warmup 10 --eval-every 16 --log-every 4 --ckpt-every 0 --keep-checkpoints 0 \
    --val-max-seqs 16 --seed 0 --out $W --results $W/results --log $W/logs/smt.jsonl > $W/logs/$arch.out 2>&1
  echo "$arch: exit $? after $(( $(date +%s) - T0 )) s: $(tail -1 $W/logs/$arch.out)"
done
tar czf $OUT/smt_gpu.tgz --exclude='*.ckpt' --exclude='*.safetensors' --exclude='*.bin' $W/logs $W/results
echo "total: $(( $(date +%s) - T0 )) s"
