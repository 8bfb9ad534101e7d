#!/usr/bin/env bash
# One call on the GPU machine (see docs/synthetic.md): build synthetic_train/synthetic_sweep,
# then at the same time (a) the medium sweep on the GPU and (b) the quick CPU sweep on that
# machine's idle cores (1 thread per run), both writing logs and plots under $OUT.
set -uo pipefail
source .deps/env.sh
T0=$(date +%s)
mkdir -p $OUT; cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 $CMAKE_ARGS_DEPS > $OUT/configure.log 2>&1 || { tail -30 $OUT/configure.log; exit 1; }
cmake --build build-gpu -j16 --target synthetic_train synthetic_sweep > $OUT/build.log 2>&1 || { grep -m20 error $OUT/build.log; tail -20 $OUT/build.log; exit 1; }
echo "build: $(( $(date +%s) - T0 )) s"
B=build-gpu/bin
LEFT=$(( ${BUDGET_S:-540} - ($(date +%s) - T0) ))
( timeout $LEFT $B/synthetic_sweep --train-config synthetic_tasks/configs/quick.json --models T_rope T_hard_alibi mamba lstm \
    --experiments copy --jobs 4 --threads 4 --seed 1 --out $OUT/quick --log $OUT/quick/synthetic.jsonl --plot $OUT/quick/plots \
    --copy-args="--device cpu" > $OUT/quick.out 2>&1; echo "quick sweep exit $? after $(( $(date +%s) - T0 )) s" >> $OUT/quick.out ) &
timeout $LEFT $B/synthetic_sweep --train-config synthetic_tasks/configs/medium.json --models T_rope T_nope T_hard_alibi mamba lstm \
    --experiments copy duplicate --dup-ngrams 2 3 4 5 6 --jobs 5 --threads 5 --seed 1 --out $OUT/medium \
    --log $OUT/medium/synthetic.jsonl --plot $OUT/medium/plots --copy-args="--device cuda" > $OUT/medium.out 2>&1
echo "medium sweep exit $? after $(( $(date +%s) - T0 )) s" >> $OUT/medium.out
wait
rm -rf $OUT/quick/synthetic_runs/checkpoints $OUT/medium/synthetic_runs/checkpoints
cat $OUT/quick.out $OUT/medium.out | tail -40
