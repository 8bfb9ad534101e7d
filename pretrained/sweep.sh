#!/usr/bin/env bash
# pretrained/sweep.sh: the paper's pretrained-model comparison (Jelassi et al. 2024, §pretrained) over
# checkpoint folders, on a GPU: the three tasks at the lengths below, 32 x 3 = 96 prompts per length,
# greedy, then the three figures (pretrained/plot.sh). Real checkpoints are not available offline
# here: download e.g. state-spaces/mamba-{370m,1.4b,2.8b} and EleutherAI/pythia-{410m,1.4b,2.8b}
# (Hugging Face folders) first; state-spaces folders ship no tokenizer, so point
# PRETRAINED_TOKENIZER at the GPT-NeoX-20B tokenizer.json.
# env:
#   PRETRAINED_MODELS     comma list of checkpoint folders (required)
#   PRETRAINED_TOKENIZER  tokenizer.json for folders without one (default: $SSMLAB_DATA_DIR/tokenizers/gpt-neox-20b)
#   DEVICE (cuda) DTYPE (bf16; the paper ran Mamba in fp16) BATCH (32 prompts per generate call) BATCHES (3)
#   C4_LENS PHONE_LENS SQUAD_LENS  space-separated lengths (defaults below); TASKS (default: all three)
#   LOG (default outputs/logs/pretrained.jsonl), PLOTS, BIN, OUT, SSMLAB_DATA_DIR (c4/, names/, squad-v2/)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${PRETRAINED_MODELS:?set PRETRAINED_MODELS to a comma list of checkpoint folders}"
: "${SSMLAB_DATA_DIR:?set SSMLAB_DATA_DIR (source scripts/data-env.sh)}"
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/outputs}
LOG=${LOG:-$OUT/logs/pretrained.jsonl}
PLOTS=${PLOTS:-$OUT/plots}
TOK=${PRETRAINED_TOKENIZER:-$SSMLAB_DATA_DIR/tokenizers/gpt-neox-20b/tokenizer.json}
C4_LENS=${C4_LENS:-"25 50 100 150 200 300 400 500 600"}
PHONE_LENS=${PHONE_LENS:-"20 40 60 80 100 120 140 160"}
SQUAD_LENS=${SQUAD_LENS:-"100 150 200 250 300 350 500"}  # the half dev set has few paragraphs past ~400 tokens
TASKS=${TASKS:-"c4_copy phone_book squad"}
COMMON=(--model "$PRETRAINED_MODELS" --tokenizer "$TOK" --data-dir "$SSMLAB_DATA_DIR" --device "${DEVICE:-cuda}"
        --dtype "${DTYPE:-bf16}" --eval-batch-size "${BATCH:-32}" --eval-num-batches "${BATCHES:-3}" --log "$LOG" --out "$OUT")
rc=0
for task in $TASKS; do
  case $task in
    c4_copy) lens=$C4_LENS ;; phone_book) lens=$PHONE_LENS ;; squad) lens=$SQUAD_LENS ;;
    *) echo "sweep.sh: unknown task $task" >&2; exit 2 ;;
  esac
  # shellcheck disable=SC2086
  "$BIN/pretrained_eval" "${COMMON[@]}" --eval-task "$task" --eval-lens $lens || rc=1
done
"$ROOT/pretrained/plot.sh" "$LOG" "$PLOTS" "$BIN" || rc=1
exit $rc
