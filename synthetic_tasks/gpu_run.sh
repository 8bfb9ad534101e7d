#!/usr/bin/env bash
# One call on the GPU machine (see docs/synthetic.md): build synthetic_train, then at the same time
# (a) the medium sweep on the GPU (copy, then duplicate n-grams) and (b) the quick CPU sweep on that
# machine's idle cores, both through synthetic_tasks/sweeps/sweep.sh, writing their logs under
# gpu-synthetic/. When synthetic_tasks/plots.json exists, plot_logs --spec draws the figures from
# those logs (the .gp scripts are kept where gnuplot is missing). Everything is packed into
# $OUT/synthetic_gpu.tgz (the device tool brings back at most 8 files).
#   run (carry .deps): BUDGET_S=540 bash synthetic_tasks/gpu_run.sh
set -uo pipefail
source .deps/env.sh
T0=$(date +%s)
OUT=${OUT:-gpu-results}; W=gpu-synthetic
rm -rf $W; mkdir -p $OUT $W
./scripts/gpu-build.sh synthetic_train plot_logs || exit 1
echo "build: $(( $(date +%s) - T0 )) s"
B=build-gpu/bin
SWEEP=(synthetic_tasks/sweeps/sweep.sh --train-bin $B/synthetic_train --seed 1)
LEFT=$(( ${BUDGET_S:-540} - ($(date +%s) - T0) ))
( timeout $LEFT "${SWEEP[@]}" --train-config synthetic_tasks/configs/quick.json --models T_rope T_hard_alibi mamba lstm \
    --experiments copy --jobs 4 --threads 2 --out $W/quick --log $W/quick/synthetic.jsonl \
    --args "--device cpu" > $W/quick.out 2>&1; echo "quick sweep exit $? after $(( $(date +%s) - T0 )) s" >> $W/quick.out ) &
timeout $LEFT "${SWEEP[@]}" --train-config synthetic_tasks/configs/medium.json --models T_rope T_nope T_hard_alibi mamba lstm \
    --experiments copy duplicate --dup-ngrams 2 3 4 5 6 --jobs 5 --threads 1 --out $W/medium \
    --log $W/medium/synthetic.jsonl --args "--device cuda" > $W/medium.out 2>&1
echo "medium sweep exit $? after $(( $(date +%s) - T0 )) s" >> $W/medium.out
wait
if [ -f synthetic_tasks/plots.json ]; then
  for s in quick medium; do
    $B/plot_logs --spec synthetic_tasks/plots.json --logs $W/$s/synthetic.jsonl --plot-dir $W/$s/plots >> $W/$s.out 2>&1
  done
fi
rm -rf $W/quick/synthetic_runs/checkpoints $W/medium/synthetic_runs/checkpoints
tar czf $OUT/synthetic_gpu.tgz $W
cp $W/medium.out $W/quick.out $OUT/
cat $W/quick.out $W/medium.out | tail -40
