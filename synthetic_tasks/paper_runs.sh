#!/usr/bin/env bash
# The synthetic figures of Jelassi et al. 2024 at the paper's model sizes, on one or more GPUs
# (issue 22; docs/synthetic.md, "Paper scale"). Every run is one synthetic_train process; runs share
# the GPUs through scripts/lib/job-queue.sh, most important first, and stop at the budget.
#
#   synthetic_tasks/paper_runs.sh [--parts "fig1b lookup seeds"] [--gpus "0"] [--per-gpu 3] [--budget-s 1500]
#                                 [--out outputs/paper] [--bin build/bin] [--steps 2000] [--skip-done STATUS...]
#                                 [--dry-run] [--smoke]                              (the defaults shown)
#
# Parts (queued in the order --parts names them; put fig1a first when it shares a GPU period):
#   fig1b   copy, train lengths 5-50, evaluated at 50, 100, ..., 1000; the six models at --arch paper
#           (T_rope, T_nope, T_alibi 151.2 M; T_hard_alibi; mamba 162.4 M, d_state 32; lstm ~42 M), seed 1;
#           then each checkpoint on duplicate_ngram, n = 2..6, at length 50 (no retraining)
#   lookup  prefix_ngram and suffix_ngram (n = 3), train lengths 6-30, evaluated 30-100; the four
#           Transformers and mamba at --arch paper, seed 1
#   seeds   fig1b and lookup again at a matched ~10 M parameters (depth 6), seeds 1, 2, 3
#   fig1a   copy, train lengths 5-300, accuracy at 300 against examples seen (context 620), six models;
#           evaluated every 125 steps (about 3,400 examples). These runs start even when they cannot finish
#           before the budget ends: the figure is the curve, and a run cut at the deadline says how far
#           it got (its last evaluation), as the issue asks ("as far as the GPU budget allows").
# --skip-done STATUS...: leave out the runs that exited 0 in earlier uses' jobs.status files (OUT/runs/
# jobs.status is rewritten by every use: pass each earlier one, or keep one file of them all, as
# docs/results/synthetic_paper_h200/jobs.status does), so a part split over GPU periods goes on.
# Logs: OUT/logs/paper_<part>.jsonl (one JSONL log per part; every record says model, task, seed),
# per-run output OUT/runs/<name>.log, checkpoints OUT/checkpoints. Figures: plot_logs on the logs
# (docs/synthetic.md gives the commands). --smoke: tiny models on the CPU, a few steps (a test of the
# script itself). --dry-run: print the jobs and the expected time, run nothing.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/lib/job-queue.sh"

parts="fig1b lookup seeds"; gpus="0"; per_gpu=3; budget=1500; out=$ROOT/outputs/paper; bin=$ROOT/build/bin
steps=2000; dry=0; smoke=0; status_files=()
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
need() { [ $# -ge 2 ] && [ -n "$2" ] && [[ "$2" != --* ]] || { echo "paper_runs.sh: $1 needs a value (--help lists them)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case $1 in
    --parts|--gpus|--per-gpu|--budget-s|--out|--bin|--steps) need "$@" ;;&
    --parts) parts=$2; shift 2 ;;
    --gpus) gpus=$2; shift 2 ;;
    --per-gpu) per_gpu=$2; shift 2 ;;
    --budget-s) budget=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --skip-done) need "$@"; shift; while [ $# -gt 0 ] && [[ "$1" != --* ]]; do status_files+=("$1"); shift; done ;;
    --dry-run) dry=1; shift ;;
    --smoke) smoke=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "paper_runs.sh: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
seen=" "
for p in $parts; do
  case $p in fig1b|lookup|seeds|fig1a) ;; *) echo "paper_runs.sh: unknown part '$p' (fig1b lookup seeds fig1a)" >&2; exit 2 ;; esac
  [[ "$seen" == *" $p "* ]] && { echo "paper_runs.sh: part '$p' named twice in --parts" >&2; exit 2; }
  seen+="$p "
done
[ "$seen" != " " ] || { echo "paper_runs.sh: --parts names no part (fig1b lookup seeds fig1a)" >&2; exit 2; }
[[ "$budget" =~ ^[0-9]+$ ]] || { echo "paper_runs.sh: --budget-s takes an integer >= 0 (seconds), got '$budget'" >&2; exit 2; }
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "paper_runs.sh: --steps takes an integer >= 1, got '$steps'" >&2; exit 2; }
[[ "$per_gpu" =~ ^[1-9][0-9]*$ ]] || { echo "paper_runs.sh: --per-gpu takes an integer >= 1, got '$per_gpu'" >&2; exit 2; }
[[ "$gpus" =~ ^(cpu|[0-9]+( +[0-9]+)*)$ ]] ||
  { echo "paper_runs.sh: --gpus takes device ids separated by spaces (\"0 1\") or cpu, got '$gpus'" >&2; exit 2; }
for f in "${status_files[@]}"; do
  [ -f "$f" ] || { echo "paper_runs.sh: --skip-done: no file $f" >&2; exit 2; }
done
[ $dry = 1 ] || [ -x "$bin/synthetic_train" ] || { echo "paper_runs.sh: $bin/synthetic_train not built (--bin DIR)" >&2; exit 1; }
if [ $dry = 1 ]; then  # a dry run writes nothing under --out
  jobs=$(mktemp); trap 'rm -f "$jobs"' EXIT
else
  mkdir -p "$out/logs" "$out/runs" "$out/checkpoints"; jobs=$out/jobs.tsv
fi

T=$bin/synthetic_train
# The optimiser for every run: the original's AdamW (wd 0.1, clip 1, 100 warm-up steps) at lr 1e-4
# (its default 1e-5 is for 2000 steps of batch 8; the paper's per-figure settings are not published),
# batch 32, cosine to 1e-6. Evaluation: 3 batches of 8 per length, greedy on 8 examples up to 100.
opt="--steps $steps --lr 1e-4 --min-lr 1e-6 --warmup 100 --weight-decay 0.1 --grad-clip 1 --batch-size 32
     --eval-batches 3 --eval-batch-size 8 --greedy-samples 8 --greedy-max-len 100 --eval-every 250 --log-every 50
     --threads 2 --quiet"
paper="--arch paper"; small="--arch match --params 10000000 --match-layers 6"
# The small Mamba: d_model 496, 6 layers, d_state 32 (9.86 M), kept as the runs so far were made with it (the
# matched width, 507, gives d_inner 1014; the CUDA scan now pads such widths, but these runs predate that).
small_mamba="--arch flags --d-model 496 --n-layer 6 --d-state 32"
device="--device cuda"
if [ $smoke = 1 ]; then
  opt="--steps 4 --lr 1e-3 --warmup 1 --batch-size 2 --eval-batches 1 --eval-batch-size 2 --greedy-samples 1
       --greedy-max-len 8 --eval-every 2 --log-every 2 --threads 1 --quiet"
  paper="--arch flags --d-model 16 --n-layer 1 --n-head 2 --d-state 4"; small="$paper"; small_mamba="$paper"; device="--device cpu"
fi
opt=$(echo $opt)
# Runs are queued longest first within a part (mamba, then the rest), so the long ones start at once.
copy_models="mamba T_rope T_nope T_alibi T_hard_alibi lstm"
lookup_models="mamba T_rope T_nope T_alibi T_hard_alibi"
L1B_TRAIN="--min-train-len 5 --max-train-len 50 --context-len 220"
L1B_EVAL="--progress-len 50 --min-eval-len 50 --max-eval-len 1000 --eval-len-step 50"; DUP_EVAL="--progress-len 50 --min-eval-len 50 --max-eval-len 50"
LOOK="--n-gram 3 --min-train-len 6 --max-train-len 30 --context-len 220 --progress-len 30 --min-eval-len 30 --max-eval-len 100 --eval-len-step 10"
L1A="--min-train-len 5 --max-train-len 300 --context-len 620 --progress-len 300 --min-eval-len 300 --max-eval-len 300"
if [ $smoke = 1 ]; then
  L1B_TRAIN="--min-train-len 3 --max-train-len 6 --context-len 20"
  L1B_EVAL="--progress-len 6 --min-eval-len 6 --max-eval-len 12 --eval-len-step 6"; DUP_EVAL="--progress-len 10 --min-eval-len 10 --max-eval-len 10"
  LOOK="--n-gram 2 --min-train-len 5 --max-train-len 8 --context-len 24 --progress-len 8 --min-eval-len 8 --max-eval-len 10 --eval-len-step 2"
  L1A="--min-train-len 3 --max-train-len 8 --context-len 20 --progress-len 8 --min-eval-len 8 --max-eval-len 8"
  copy_models="T_rope mamba"; lookup_models="T_hard_alibi"
fi

: > "$jobs"
# Expected seconds of each run, measured on the H200 with 4 runs sharing each GPU (docs/synthetic.md);
# the queue starts a run only when its expectation (the 4th argument of add, default the 3rd) fits
# before the budget ends.
est=0; longest=0; skipped=0
add() {  # name command expected-seconds [expected-seconds-for-the-queue]
  if [ ${#status_files[@]} -gt 0 ] && grep -qh "^$1 0 [0-9]*$" "${status_files[@]}"; then skipped=$((skipped + 1)); return; fi
  printf '%s\t%s\t%s\n' "$1" "${4:-$3}" "$2" >> "$jobs"; est=$(( est + $3 )); (( $3 > longest )) && longest=$3
  return 0
}
paper_s() { case $1 in mamba) echo 1250 ;; lstm) echo 250 ;; *) echo 370 ;; esac; }
small_s() { case $1 in mamba) echo 400 ;; lstm) echo 230 ;; *) echo 200 ;; esac; }
if [ $smoke = 1 ]; then paper_s() { echo 5; }; small_s() { echo 5; }; fi
copy_job() {  # name-prefix model size-flags seed log [dup]
  local name=$1_${2}_s$4 m=$2 size=$3 seed=$4 log=$5 dup=$6 ck cmd
  ck=$out/checkpoints/$name.ckpt
  cmd="$T --model $m $size --train-task copy --eval-task copy $L1B_TRAIN $L1B_EVAL $opt --seed $seed $device --checkpoint $ck --log $log --out $out"
  if [ "$dup" = dup ]; then
    for n in 2 3 4 5 6; do
      cmd+=" && $T --model $m $size --train-task copy --eval-task duplicate_ngram --n-gram $n $L1B_TRAIN $DUP_EVAL"
      cmd+=" $opt --seed $seed $device --checkpoint $ck --resume --eval-only --log $log --out $out"
    done
  fi
  printf '%s\t%s\n' "$name" "$cmd"
}
for part in $parts; do
  log=$out/logs/paper_$part.jsonl
  case $part in
    fig1b)
      for m in $copy_models; do
        IFS=$'\t' read -r name cmd < <(copy_job fig1b "$m" "$paper" 1 "$log" dup); add "$name" "$cmd" "$(paper_s "$m")"
      done ;;
    lookup)
      for task in suffix_ngram prefix_ngram; do for m in $lookup_models; do
        add "lookup_${task%_ngram}_${m}_s1" "$T --model $m $paper --train-task $task --eval-task $task $LOOK $opt --seed 1 $device --log $log --out $out" "$(paper_s "$m")"
      done; done ;;
    seeds)
      for seed in 1 2 3; do for m in $copy_models; do
        size=$small; [ $m = mamba ] && size=$small_mamba
        IFS=$'\t' read -r name cmd < <(copy_job seeds_fig1b "$m" "$size" "$seed" "$log" dup); add "$name" "$cmd" "$(small_s $m)"
      done; done
      for seed in 1 2 3; do
        for task in suffix_ngram prefix_ngram; do for m in $lookup_models; do
          size=$small; [ $m = mamba ] && size=$small_mamba
          add "seeds_lookup_${task%_ngram}_${m}_s$seed" "$T --model $m $size --train-task $task --eval-task $task $LOOK $opt --seed $seed $device --log $log --out $out" "$(small_s $m)"
        done; done
      done ;;
    fig1a)
      opt1a=${opt/--batch-size 32/--batch-size 16}; opt1a=${opt1a/--eval-every 250/--eval-every 125}  # flags may not repeat
      for m in $copy_models; do
        # queued with an expected time of 0, so each starts whenever a slot is free (see the header); the
        # printed total counts its real expectation
        add "fig1a_${m}_s1" "$T --model $m $paper --train-task copy --eval-task copy $L1A $opt1a --seed 1 $device --log $log --out $out" \
            $(( 2 * $(paper_s "$m") )) 0
      done ;;
  esac
done
ngpu=$(echo $gpus | wc -w)
[ $skipped -gt 0 ] && echo "[paper_runs] $skipped runs left out: they exited 0 in ${status_files[*]}"
# Wall time: the per-run estimates hold with 4 runs sharing an H200, and more sharing adds no throughput,
# so the work takes total / (GPUs x min(per-gpu, 4)), but never less than the longest run, which itself
# slows down in proportion when more than 4 share its GPU.
share=$(( per_gpu < 4 ? per_gpu : 4 ))
wall=$(( est / (ngpu * share) )); slow=$(( longest * (per_gpu > 4 ? per_gpu : 4) / 4 ))
(( slow > wall )) && wall=$slow
echo "[paper_runs] $(wc -l < "$jobs") runs ($parts): expected about $(( wall / 60 + 1 )) min on $ngpu H200(s) with" \
     "$per_gpu runs sharing each (longest run ~$(( slow / 60 + 1 )) min); budget $budget s${status_files[*]:+; --skip-done applied}"
[ $dry = 1 ] || echo "[paper_runs] jobs: $jobs"
if [ $dry = 1 ]; then cut -f1,2 "$jobs" | tr '\t\n' '= '; echo; exit 0; fi
t0=$(date +%s)
job_queue "$jobs" "$gpus" "$per_gpu" $(( t0 + budget )) "$out/runs"; rc=$?
echo "[paper_runs] done in $(( $(date +%s) - t0 )) s: $(grep -c ' 0 [0-9]*$' "$out/runs/jobs.status") of $(wc -l < "$jobs") runs exited 0"
exit $rc
