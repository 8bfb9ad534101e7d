#!/usr/bin/env bash
# ssmlab's own pretrained pair (docs/pretrained.md, "Our own pretrained pair"), in one use of a GPU
# machine: train a Mamba and a GPT-NeoX-style Transformer on the same real text with the GPT-NeoX-20B
# tokenizer (same tokens, same steps), check both saved folders in Hugging Face transformers (same
# logits), then run the three pretrained tasks on both. Only logs and small files come back, packed in
# $OUT/own_pair.tgz; the checkpoints stay on the machine.
#   SSMLAB_DATA_DIR=<data> OUT=<dir> [BUDGET_S=560] [SKIP_BUILD=1] bash pretrained/gpu_own_pair.sh
# Data: wikitext-2-raw/wiki.train.raw, tinystories/TinyStories-train-head.txt and the C4 sample minus
# its evaluation documents (the held-out rule of pretrained/README.md: the last 200 documents of each
# C4 file are evaluation-only) for training; wiki.valid.raw + the TinyStories validation head for
# validation. Expected time on one H200: ~2 min build, ~1.5 min per model, ~2 min of evaluation.
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
OUT=${OUT:-gpu-results}
W=gpu-own-pair
DATA=${SSMLAB_DATA_DIR:?set SSMLAB_DATA_DIR to a folder with the layout of ../shared/data}
BUDGET_S=${BUDGET_S:-560}
BIN=${BIN:-build-gpu/bin}
STEPS=${STEPS:-1200}
rm -rf $W && mkdir -p $OUT $W/logs $W/data
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ./scripts/gpu-build.sh mamba_train export_logits pretrained_eval || exit 1
  echo "build: $(( $(date +%s) - T0 )) s"
fi
TOK=$DATA/tokenizers/gpt-neox-20b/tokenizer.json
C4=$(ls $DATA/c4/*.jsonl | head -1)
TRAIN="$DATA/wikitext-2-raw/wiki.train.raw $DATA/tinystories/TinyStories-train-head.txt $C4"  # mamba_train drops the C4 file's evaluation-only tail itself (hf/documents.h)
VALID="$DATA/wikitext-2-raw/wiki.valid.raw $DATA/tinystories/TinyStories-valid-head.txt"

# Mamba d 512 x 16 (d_state 16, tied head) and GPT-NeoX d 512 x 8 (8 heads, untied head): about the
# same parameters outside the embeddings (27.0 M vs 25.2 M); the untied output matrix adds 25.7 M to
# the Transformer's total. Context 512, 32 windows per step.
declare -A FLAGS=(
  [mamba]="--model mamba_simple --d-model 512 --n-layers 16 --n-state 16"
  [transformer]="--model transformer --d-model 512 --n-layers 8 --n-head 8"
)
for m in mamba transformer; do
  left=$(( BUDGET_S - ($(date +%s) - T0) ))
  timeout $(( left > 200 ? 200 : left )) $BIN/mamba_train ${FLAGS[$m]} --dataset text --train-files $TRAIN \
    --valid-files $VALID --tokenizer $TOK --train-max-samples 0 --seq-len 512 --batch-size 32 --max-steps $STEPS --eval-every 100 \
    --patience 3 --val-max-samples 256 --lr 1e-3 --min-lr 1e-4 --warmup 100 --log-every 20 --device cuda --seed 0 \
    --out $W --cache-dir $W/cache --log $W/logs/own_pair_train.jsonl --checkpoint-dir $W/ck/$m > $W/logs/train_$m.out 2>&1
  echo "train $m: exit $? after $(( $(date +%s) - T0 )) s: $(tail -1 $W/logs/train_$m.out)"
  cp $W/ck/$m/best.json $W/logs/best_$m.json 2>/dev/null
  cp $W/ck/$m/best/config.json $W/logs/config_$m.json 2>/dev/null
done

# transformers check of both saved folders (CPU, fp32)
for m in mamba transformer; do
  $BIN/export_logits --quiet --model $W/ck/$m/best
done
python3 scripts/check_hf_export.py $W/ck/mamba/best $W/ck/transformer/best --out $W/logs/hf_check.json --threads 8 \
  > $W/logs/hf_check.out 2>&1
echo "transformers check: exit $? ($(tail -1 $W/logs/hf_check.out))"

# the three tasks on both models (greedy, bf16 weights on the GPU)
MODELS="$W/ck/mamba/best,$W/ck/transformer/best"
for task in c4_copy phone_book squad; do
  left=$(( BUDGET_S - ($(date +%s) - T0) ))
  [ $left -lt 30 ] && { echo "budget: skipping $task"; continue; }
  case $task in
    # lengths whose prompts stay within the 512-token training context (RoPE is not trained past it)
    c4_copy) lens="--eval-lens 25 50 75 100 150 200" ;;
    phone_book) lens="--eval-lens 5 10 15 20 30 40" ;;
    squad) lens="--eval-lens 100 150 200 250 300 350" ;;
  esac
  timeout $(( left - 10 )) $BIN/pretrained_eval --model $MODELS --eval-task $task $lens --device cuda --dtype bf16 \
    --data-dir $DATA --seed 0 --log $W/logs/own_pair_eval.jsonl --out $W/eval > $W/logs/eval_$task.out 2>&1
  echo "eval $task: exit $? after $(( $(date +%s) - T0 )) s"
done
cp -r $W/eval $W/logs/eval_side 2>/dev/null
tar czf $OUT/own_pair.tgz $W/logs
echo "total: $(( $(date +%s) - T0 )) s"
