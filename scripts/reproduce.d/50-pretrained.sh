#!/usr/bin/env bash
# pretrained: c4_copy, phone_book and squad per input length on checkpoint folders (Jelassi et al. 2024,
# §pretrained); see docs/pretrained.md.
#   MODE=quick  the three tasks on the tiny random fixtures tests/fixtures/hf/{gpt_neox,mamba} (accuracy ~0:
#               this checks the pipeline, not the models), 8 prompts per length; c4_copy's longest length
#               hits the context rule on the GPT-NeoX fixture (128 positions), and a copy of that fixture
#               with 1024 positions runs everything. Data: the real
#               files under SSMLAB_DATA_DIR, else a small stand-in folder written here. Under 90 s on 2 cores.
#   MODE=full   pretrained/sweep.sh over the folders in PRETRAINED_MODELS (comma list; real checkpoints
#               such as state-spaces/mamba-370m and EleutherAI/pythia-410m are NOT available offline here:
#               download them first). Without PRETRAINED_MODELS the quick run is done instead, with a note.
# env: MODE, OUT, LOGS, PLOTS, BIN; full mode also PRETRAINED_MODELS, PRETRAINED_TOKENIZER, DEVICE, DTYPE
#      (pretrained/sweep.sh lists its knobs).
set -euo pipefail
source "$(dirname "$0")/../lib/reproduce-step.sh"
step_env pretrained pretrained_eval "LibTorch, models/ and hf/"
LOG="$LOGS/pretrained.jsonl"
if [ "$MODE" = full ] && [ -n "${PRETRAINED_MODELS:-}" ]; then
  exec env LOG="$LOG" PLOTS="$PLOTS" BIN="$BIN" OUT="$OUT" "$ROOT/pretrained/sweep.sh"
fi
[ "$MODE" = full ] && echo "[pretrained] MODE=full but PRETRAINED_MODELS is not set: no real checkpoint is available" \
  "offline here, so this is the quick run on the tiny fixtures (docs/pretrained.md says what to download)" >&2

DATA=${SSMLAB_DATA_DIR:-}
if [ -z "$DATA" ]; then  # a small stand-in data folder: generated text, a few names, a tiny SQuAD-shaped file
  DATA="$OUT/pretrained/standin-data"
  mkdir -p "$DATA/c4" "$DATA/names" "$DATA/squad-v2"
  : >"$DATA/c4/standin.jsonl"
  for i in $(seq 1 60); do
    printf '{"text": "Story %d. The %s fox walked to the river and met a heron.\\nThey talked about the weather for %d minutes."}\n' \
      "$i" "$([ $((i % 2)) = 0 ] && echo red || echo grey)" "$i" >>"$DATA/c4/standin.jsonl"
  done
  printf 'MARY 2.6 2.6 1\nPATRICIA 1.1 3.7 2\nLINDA 1.0 4.7 3\nBARBARA 0.9 5.6 4\n' >"$DATA/names/dist.female.first"
  printf 'JAMES 3.3 3.3 1\nJOHN 3.2 6.5 2\nROBERT 3.1 9.6 3\n' >"$DATA/names/dist.male.first"
  printf 'SMITH 1.0 1.0 1\nJOHNSON 0.8 1.8 2\nWILLIAMS 0.7 2.5 3\nJONES 0.6 3.1 4\nBROWN 0.6 3.7 5\n' >"$DATA/names/dist.all.last"
  {
    printf '{"version": "v2.0", "data": [{"title": "Rivers", "paragraphs": ['
    for i in $(seq 1 40); do
      ctx="The river number $i flows north through the valley."
      for k in $(seq 1 $((i % 8))); do ctx="$ctx It passes the old mill number $k."; done
      [ "$i" -gt 1 ] && printf ','
      printf '{"context": "%s", "qas": [{"question": "Where does river %d flow?", "id": "a%d", "is_impossible": false, "answers": [{"text": "north", "answer_start": 0}]}, {"question": "What flows north?", "id": "b%d", "is_impossible": false, "answers": [{"text": "The river number %d", "answer_start": 0}]}]}' \
        "$ctx" "$i" "$i" "$i" "$i"
    done
    printf ']}]}\n'
  } >"$DATA/squad-v2/standin.json"
  echo "[pretrained] SSMLAB_DATA_DIR not set: using generated stand-in data in $DATA"
  SQUAD_LENS=(40 80 160); SQUAD_MIN=3
else
  SQUAD_LENS=(300 450 600); SQUAD_MIN=4  # paragraph tokens under the fixtures' 380-token tokenizer
fi
F="$ROOT/tests/fixtures/hf"
# The GPT-NeoX fixture has 128 positions, too few for the phone books and SQuAD paragraphs: a copy of it
# with max_position_embeddings 1024 (RoPE itself has no limit; same weights) gives the Transformer line.
NEOX="$OUT/pretrained/gpt_neox_ctx1024"
mkdir -p "$NEOX"
sed 's/"max_position_embeddings": 128/"max_position_embeddings": 1024/' "$F/gpt_neox/config.json" >"$NEOX/config.json"
cp "$F/gpt_neox/model.safetensors" "$F/gpt_neox/tokenizer.json" "$NEOX/"
# One thread: these models are tiny, and OpenMP threads competing for shared cores made the run 10x slower.
COMMON=(--data-dir "$DATA" --threads 1 --log "$LOG" --out "$OUT" --eval-num-batches 1 --eval-batch-size 8 --quiet)
rc=0
# c4_copy also on the 128-position fixture: its longest length is skipped by the context rule.
"$BIN/pretrained_eval" "${COMMON[@]}" --model "$F/gpt_neox,$NEOX,$F/mamba" --eval-task c4_copy --eval-lens 4 8 16 32 48 || rc=1
"$BIN/pretrained_eval" "${COMMON[@]}" --model "$NEOX,$F/mamba" --eval-task phone_book --eval-lens 3 4 6 || rc=1
"$BIN/pretrained_eval" "${COMMON[@]}" --model "$NEOX,$F/mamba" --eval-task squad --eval-lens "${SQUAD_LENS[@]}" \
  --squad-max-per-bucket 8 --squad-min-per-bucket "$SQUAD_MIN" || rc=1
# the figures (pretrained/plots.json) are drawn by reproduce.sh through plot_logs --spec
exit $rc
