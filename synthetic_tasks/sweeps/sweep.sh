#!/usr/bin/env bash
# synthetic_tasks/sweeps/sweep.sh — runs synthetic_train for several models and experiments, in parallel.
#
#   synthetic_tasks/sweeps/sweep.sh --models T_rope T_hard_alibi mamba lstm --experiments copy \
#       --train-config synthetic_tasks/configs/quick.json --jobs 2 --threads 2 --seed 1 \
#       --out outputs --log outputs/logs/synthetic.jsonl
#
# Experiments (Jelassi et al. 2024, Fig. 1 and §4; docs/synthetic.md):
#   copy       one run per model: train and evaluate on copy
#   lookup     prefix_ngram and suffix_ngram: train on lengths <= --lookup-max-train, evaluate to --lookup-max-eval
#   duplicate  each model's copy checkpoint evaluated on duplicate_ngram for each n in --dup-ngrams, no
#              retraining (synthetic_train --checkpoint C --resume --eval-only); these runs start once
#              the copy and lookup runs have finished, and only for models whose copy run succeeded
# Options (list options take several words, like synthetic_train's own):
#   --models M...          models to run (required); the valid names: synthetic_train --list-models
#   --experiments E...     copy | lookup | duplicate (default: copy; duplicate needs copy)
#   --train-config FILE    preset passed to every run as --config (synthetic_tasks/configs/*.json)
#   --train-bin PATH       the synthetic_train binary (default: $BIN/synthetic_train, BIN=build/bin)
#   --jobs N               runs at a time (default 1)
#   --threads T            CPU threads shared by the runs: each gets max(1, T / jobs) (default 0, i.e. 1 each)
#   --gpus 0,1             one run per GPU at a time, each seeing only its GPU through
#                          CUDA_VISIBLE_DEVICES (sets --jobs to the number of GPUs)
#   --seed S               seed of every run (default 0)
#   --out DIR              every run's --out; its output goes to DIR/synthetic_runs/<tag>_<name>.log and the
#                          copy checkpoints to DIR/synthetic_runs/checkpoints/ (default: outputs)
#   --log FILE             the runs' JSONL log (default: DIR/logs/synthetic.jsonl; none: no log)
#   --tag TAG              label recorded in every run's params (default: sweep-<8 random hex digits)
#   --args "FLAGS"         extra synthetic_train flags for every run (e.g. "--device cuda"). Flags that
#                          shape the model (--d-model, --params, ...) belong here: a duplicate run
#                          rebuilds the model of its copy run from them
#   --copy-args "FLAGS"    extra flags for the copy runs only (e.g. "--max-eval-len 100 --eval-len-step 5")
#   --lookup-args "FLAGS"  extra flags for the lookup runs only
#   --duplicate-args "FLAGS"  extra flags for the duplicate runs only
#   --lookup-models M...   models for lookup (default: --models)
#   --lookup-max-train N   lookup: longest training string [letters] (default 30)
#   --lookup-max-eval N    lookup: longest evaluated string [letters] (default 100)
#   --lookup-eval-step N   lookup: step between evaluated lengths (default 10)
#   --lookup-n N           lookup: n-gram size of the key (default 3)
#   --dup-ngrams N...      duplicate: n values (default 2 3 4 5 6)
#   --dup-len N            duplicate: evaluated string length (default 0 = the copy run's --max-train-len)
#   --dry-run              print the synthetic_train commands, one per line, and run nothing
#   -h, --help             this text
# Each finished run prints one line: its name, exit code and seconds, and the last line of its output
# (the run's summary). The sweep does not read the log and draws nothing: the figures come from
# plot_logs --spec synthetic_tasks/plots.json. Exit 0 when every run succeeded, 1 when any failed
# (each named), 2 for a usage error.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
me=synthetic_tasks/sweeps/sweep.sh

usage_error() { echo "$me: error: $*" >&2; exit 2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

models=() experiments=() lookup_models=() dup_ngrams=()
train_config="" train_bin="" jobs=1 threads=0 gpus="" seed=0 out=outputs log="" tag="" dry_run=0
args="" copy_args="" lookup_args="" duplicate_args=""
lookup_max_train=30 lookup_max_eval=100 lookup_eval_step=10 lookup_n=3 dup_len=0

# ---- arguments: "--flag value", "--flag=value", and lists "--flag v1 v2 ..." ----
while [ $# -gt 0 ]; do
  opt=$1 val="" has_val=0
  if [[ $opt == --*=* ]]; then val=${opt#*=} opt=${opt%%=*} has_val=1; fi
  shift
  case $opt in
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --dry-run) dry_run=1; continue ;;
    --models|--experiments|--lookup-models|--dup-ngrams)
      list=()
      [ $has_val = 1 ] && list+=("$val")
      while [ $# -gt 0 ] && [[ $1 != --* ]]; do list+=("$1"); shift; done
      [ ${#list[@]} -gt 0 ] || usage_error "$opt needs at least one value"
      case $opt in
        --models) models=("${list[@]}") ;;
        --experiments) experiments=("${list[@]}") ;;
        --lookup-models) lookup_models=("${list[@]}") ;;
        --dup-ngrams) dup_ngrams=("${list[@]}") ;;
      esac
      continue ;;
  esac
  if [ $has_val = 0 ]; then
    # only the *-args options take a value that starts with "--" ("--args '--device cuda'")
    { [ $# -gt 0 ] && { [[ $1 != --* ]] || [[ $opt == *-args ]]; }; } || usage_error "$opt needs a value (see --help)"
    val=$1; shift
  fi
  case $opt in
    --train-config) train_config=$val ;;
    --train-bin) train_bin=$val ;;
    --jobs) jobs=$val ;;
    --threads) threads=$val ;;
    --gpus) gpus=$val ;;
    --seed) seed=$val ;;
    --out) out=$val ;;
    --log) log=$val ;;
    --tag) tag=$val ;;
    --args) args=$val ;;
    --copy-args) copy_args=$val ;;
    --lookup-args) lookup_args=$val ;;
    --duplicate-args) duplicate_args=$val ;;
    --lookup-max-train) lookup_max_train=$val ;;
    --lookup-max-eval) lookup_max_eval=$val ;;
    --lookup-eval-step) lookup_eval_step=$val ;;
    --lookup-n) lookup_n=$val ;;
    --dup-len) dup_len=$val ;;
    *) usage_error "unknown option '$opt' (see --help)" ;;
  esac
done

# ---- checks (exit 2 with one line) ----
[ ${#models[@]} -gt 0 ] || usage_error "--models is required (the valid names: synthetic_train --list-models)"
[ ${#experiments[@]} -gt 0 ] || experiments=(copy)
[ ${#lookup_models[@]} -gt 0 ] || lookup_models=("${models[@]}")
[ ${#dup_ngrams[@]} -gt 0 ] || dup_ngrams=(2 3 4 5 6)
for e in "${experiments[@]}"; do
  case $e in copy|lookup|duplicate) ;; *) usage_error "--experiments: '$e' is not one of copy lookup duplicate" ;; esac
done
has_exp() { [[ " ${experiments[*]} " == *" $1 "* ]]; }
if has_exp duplicate && ! has_exp copy; then usage_error "--experiments duplicate evaluates the copy checkpoints: add copy"; fi
for v in jobs threads seed lookup_max_train lookup_max_eval lookup_eval_step lookup_n dup_len; do
  is_uint "${!v}" || usage_error "--${v//_/-} must be a whole number >= 0 (got '${!v}')"
done
for v in jobs lookup_max_train lookup_max_eval lookup_eval_step lookup_n; do
  [ "${!v}" -ge 1 ] || usage_error "--${v//_/-} must be >= 1 (got ${!v})"
done
prev=0
for n in "${dup_ngrams[@]}"; do
  { is_uint "$n" && [ "$n" -ge 1 ]; } || usage_error "--dup-ngrams: '$n' is not a whole number >= 1"
  [ "$n" -gt "$prev" ] || usage_error "--dup-ngrams must be increasing (got ${dup_ngrams[*]})"
  prev=$n
done
if [ -n "$gpus" ] && ! [[ $gpus =~ ^[0-9]+(,[0-9]+)*$ ]]; then
  usage_error "--gpus must be a comma-separated list of GPU indices such as 0,1 (got '$gpus')"
fi
[ -z "$train_config" ] || [ -f "$train_config" ] || usage_error "--train-config '$train_config' is not a file"
[ -n "$train_bin" ] || train_bin=${BIN:-$ROOT/build/bin}/synthetic_train
[ -x "$train_bin" ] || usage_error "synthetic_train not found at $train_bin (build it, or pass --train-bin)"
valid=$("$train_bin" --list-models) || usage_error "$train_bin --list-models failed"
for m in "${models[@]}" "${lookup_models[@]}"; do
  grep -qxF -- "$m" <<<"$valid" || usage_error "unknown model '$m' (valid: $(echo $valid))"
done
[ ! -e "$out" ] || [ -d "$out" ] || usage_error "--out '$out' exists and is not a folder"
[ -n "$log" ] || log=$out/logs/synthetic.jsonl
[ -n "$tag" ] || tag=sweep-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
[[ $tag =~ ^[A-Za-z0-9._-]+$ ]] || usage_error "--tag may hold letters, digits, '.', '_' and '-' only (got '$tag')"
if [ -n "$gpus" ]; then IFS=, read -r -a gpu_ids <<<"$gpus"; jobs=${#gpu_ids[@]}; fi
threads_each=$(( threads / jobs )); [ $threads_each -ge 1 ] || threads_each=1
read -r -a args_w <<<"$args"
read -r -a copy_w <<<"$copy_args"
read -r -a lookup_w <<<"$lookup_args"
read -r -a dup_w <<<"$duplicate_args"
runs=$out/synthetic_runs
ckpt() { echo "$runs/checkpoints/${tag}_copy_$1.ckpt"; }

# ---- the runs: one line per run, "NAME COMMAND" (the command shell-quoted) ----
base() {  # base MODEL EXPERIMENT: the flags every run has
  local a=("$train_bin")
  [ -z "$train_config" ] || a+=(--config "$train_config")
  a+=(--model "$1" --tag "$tag" --sweep-exp "$2" --seed "$seed" --threads "$threads_each" --out "$out" --quiet --log "$log")
  printf '%q ' "${a[@]}"
}
quoted() { [ $# -eq 0 ] || printf '%q ' "$@"; }
first=() second=()
for exp in "${experiments[@]}"; do
  case $exp in
    copy)
      for m in "${models[@]}"; do
        c=$(base "$m" copy)$(quoted --train-task copy --eval-task copy)
        has_exp duplicate && c+=$(quoted --checkpoint "$(ckpt "$m")")
        first+=("copy_$m $c$(quoted "${args_w[@]}" "${copy_w[@]}")")
      done ;;
    lookup)
      for task in suffix_ngram prefix_ngram; do
        for m in "${lookup_models[@]}"; do
          c=$(base "$m" lookup)$(quoted --train-task $task --eval-task $task --n-gram "$lookup_n" \
            --min-train-len $((lookup_n + 3)) --max-train-len "$lookup_max_train" --context-len $((2 * lookup_max_train + 20)) \
            --min-eval-len $((lookup_max_train < lookup_max_eval ? lookup_max_train : lookup_max_eval)) \
            --max-eval-len "$lookup_max_eval" --eval-len-step "$lookup_eval_step" --progress-len "$lookup_max_train")
          first+=("lookup_${task}_$m $c$(quoted "${args_w[@]}" "${lookup_w[@]}")")
        done
      done ;;
    duplicate)
      for m in "${models[@]}"; do
        for n in "${dup_ngrams[@]}"; do
          c=$(base "$m" duplicate)$(quoted --train-task copy --eval-task duplicate_ngram --n-gram "$n" \
            --checkpoint "$(ckpt "$m")" --resume --eval-only)
          if [ "$dup_len" -gt 0 ]; then c+=$(quoted --min-eval-len "$dup_len" --max-eval-len "$dup_len")
          else c+=$(quoted --eval-at-max-train); fi
          second+=("duplicate_n${n}_$m $c$(quoted "${args_w[@]}" "${dup_w[@]}")")
        done
      done ;;
  esac
done

if [ $dry_run = 1 ]; then
  for j in "${first[@]}" "${second[@]}"; do c=${j#* }; echo "${c% }"; done
  exit 0
fi

# ---- the runs: scripts/lib/job-queue.sh, --jobs at a time (with --gpus: one per GPU) ----
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/job-queue.sh"
mkdir -p "$runs" || exit 1
[ ${#second[@]} -eq 0 ] || mkdir -p "$runs/checkpoints" || exit 1
status=$(mktemp) || exit 1
trap 'rm -f "$status"' EXIT
if [ -n "$gpus" ]; then slots="${gpu_ids[*]}" per=1; else slots=cpu per=$jobs; fi
run_jobs() {  # run_jobs "NAME COMMAND"...: every job through the queue; their status lines go to $status
  [ $# -gt 0 ] || return 0
  local list=$runs/.${tag}_jobs.tsv j
  for j in "$@"; do printf '%s\t0\t%s\n' "${j%% *}" "${j#* }"; done > "$list"
  job_queue "$list" "$slots" "$per" $(( $(date +%s) + 100000000 )) "$runs" sweep "${tag}_"
  local rc=$?
  cat "$runs/${tag}_jobs.status" >> "$status"
  rm -f "$list" "$runs/${tag}_jobs.status"
  [ $rc -ne 130 ] || { echo "[sweep] tag $tag: interrupted; the running runs were stopped, no further run starts" >&2; exit 130; }
}
echo "[sweep] tag $tag: $(( ${#first[@]} + ${#second[@]} )) runs, $jobs at a time, $threads_each thread(s) each" >&2
SECONDS=0
run_jobs "${first[@]}"
ready=()  # the duplicate runs of the models whose copy run succeeded
for j in "${second[@]}"; do
  m=${j%% *}; m=${m#duplicate_n*_}
  if grep -qx "copy_$m 0 .*" "$status"; then ready+=("$j"); else echo "[sweep] ${j%% *} skipped: copy_$m did not succeed" >&2; fi
done
run_jobs "${ready[@]}"
failed=$(awk '$2 != 0' "$status" | wc -l)
skipped=""
[ ${#ready[@]} -eq ${#second[@]} ] || skipped=", $(( ${#second[@]} - ${#ready[@]} )) skipped"
echo "[sweep] tag $tag: $(wc -l <"$status") runs, $failed failed$skipped, $SECONDS s; run outputs in $runs"
[ "$failed" -eq 0 ]
