#!/usr/bin/env bash
# On the GPU machine, after scripts/gpu-check.sh built build-gpu/: the benchmarks behind
# docs/performance.md. Results go to ${OUT:-gpu-results}/.
#   bench_scan         BM_scan/{reference,cuda}/{fwd,fwdbwd} at B=8 D=1536 L=2048 N=16, fp32 and bf16
#   bench_mamba_train  tokens/s of a mamba-130m-sized training step (L=2048, bf16 autocast), fused vs reference
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}; mkdir -p "$OUT"
source .deps/env.sh
B=build-gpu/bin
t0=$(date +%s)
timeout ${TRAIN_TIMEOUT_S:-240} $B/bench_mamba_train --device cuda --bf16 --d-model 768 --n-layer 24 --seq-len 2048 \
  --batch 1 --warmup 1 --steps 10 --max-seconds 60 --log "$OUT/bench.jsonl" > "$OUT/bench_mamba_train.txt" 2>&1
echo "[gpu-bench] bench_mamba_train exit $? after $(( $(date +%s) - t0 )) s"; tail -5 "$OUT/bench_mamba_train.txt"
timeout ${SCAN_TIMEOUT_S:-240} $B/bench_scan --threads 16 --benchmark_filter="${BENCH_FILTER:-B:8}" \
  --benchmark_out="$OUT/bench_scan.json" --benchmark_out_format=json --benchmark_counters_tabular=true \
  > "$OUT/bench_scan.txt" 2>&1
echo "[gpu-bench] bench_scan exit $? after $(( $(date +%s) - t0 )) s"
sed 's/\x1b\[[0-9;]*m//g' "$OUT/bench_scan.txt" | grep -E "BM_|ratio|speedup"
