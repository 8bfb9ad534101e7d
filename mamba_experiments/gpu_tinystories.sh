#!/usr/bin/env bash
# TinyStories language models on one GPU (docs/mamba_experiments.md, "TinyStories"): a Mamba of the
# mamba-130m shape, a GPT-NeoX-style Transformer and a sparse-MoE Transformer of about the same total
# parameter count, then the same three at a small size; each trained with early stopping on the
# validation loss, then 5 samples from every best checkpoint. Logs, best.json files and samples are
# packed into $OUT/tinystories_gpu.tgz (the device tool brings back at most 8 files; the 130M
# checkpoints stay on the machine).
#   SSMLAB_DATA_DIR=<data> OUT=<dir> [SIZES="130m small"] [BUDGET_S=540] bash mamba_experiments/gpu_tinystories.sh
# Needs the data folder's tinystories/ and tokenizers/gpt2/ (layout of ../shared/data). Expected time
# on one H200: about 1.5 min of build, then 1-2 min per 130M model and well under a minute per small one.
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
OUT=${OUT:-gpu-results}
W=gpu-tinystories
DATA=${SSMLAB_DATA_DIR:?set SSMLAB_DATA_DIR to a folder with tinystories/ and tokenizers/gpt2/}
SIZES=${SIZES:-130m small}
BUDGET_S=${BUDGET_S:-540}
BIN=${BIN:-build-gpu/bin}
rm -rf $W && mkdir -p $OUT $W/logs $W/samples
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ./scripts/gpu-build.sh mamba_train generate || exit 1
  echo "build: $(( $(date +%s) - T0 )) s"
fi

# model -> size flags. 130m: Mamba d 768 x 24 (129.1M with the GPT-2 vocabulary, tied head); the
# Transformer d 768 x 8 (133.8M: untied GPT-NeoX head); the MoE Transformer the same with 8 experts of
# d_ff 384 (= the dense MLP's 3072 split in 8: same total, top-2 active). small: d 256.
flags() {
  case "$1/$2" in
    130m/mamba_simple) echo "--d-model 768 --n-layers 24 --n-state 16" ;;
    130m/transformer) echo "--d-model 768 --n-layers 8 --n-head 12" ;;
    130m/moe_transformer) echo "--d-model 768 --n-layers 8 --n-head 12 --n-experts 8 --top-k 2 --d-ff 384" ;;
    small/mamba_simple) echo "--d-model 256 --n-layers 8 --n-state 16" ;;
    small/transformer) echo "--d-model 256 --n-layers 4 --n-head 4" ;;
    small/moe_transformer) echo "--d-model 256 --n-layers 4 --n-head 4 --n-experts 8 --top-k 2 --d-ff 128" ;;
  esac
}
lr_of() { [ "$1" = 130m ] && echo 6e-4 || echo 2e-3; }

for size in $SIZES; do
  for model in ${MODELS:-mamba_simple transformer moe_transformer}; do
    left=$(( BUDGET_S - ($(date +%s) - T0) ))
    [ $left -lt 40 ] && { echo "budget: skipping $size/$model ($left s left)"; continue; }
    ck=$W/ck/${size}_$model
    # 256-token windows, 32 per step (8192 tokens); one evaluation per ~half epoch on 200 validation
    # windows; early stop after 4 evaluations without a better validation loss.
    timeout $(( left - 20 )) $BIN/mamba_train --model $model $(flags $size $model) --dataset tinystories \
      --data-dir "$DATA" --train-max-samples 0 --seq-len 256 --batch-size 32 --max-steps 3000 --eval-every 30 --patience 4 \
      --val-max-samples 200 --lr $(lr_of $size) --min-lr 6e-5 --warmup 60 --log-every 10 --device cuda \
      --seed 0 --out $W --log $W/logs/tinystories_$size.jsonl --checkpoint-dir $ck > $W/logs/${size}_$model.out 2>&1
    echo "$size/$model: exit $? after $(( $(date +%s) - T0 )) s: $(tail -1 $W/logs/${size}_$model.out)"
    cp $ck/best.json $W/logs/${size}_${model}_best.json 2>/dev/null
    for s in 1 2 3 4 5; do
      $BIN/generate --model $ck/best --prompt "Once upon a time" --max-new-tokens 160 --temperature 0.8 --top-p 0.9 \
        --seed $s --device cuda --quiet >> $W/samples/${size}_$model.txt 2>&1
      printf '\n----\n' >> $W/samples/${size}_$model.txt
    done
  done
done
rm -rf $W/cache
tar czf $OUT/tinystories_gpu.tgz $W/logs $W/samples
echo "total: $(( $(date +%s) - T0 )) s"
