#!/usr/bin/env bash
# On the GPU machine, after scripts/gpu-check.sh built build-gpu/: the benchmarks behind
# docs/performance.md. Results go to ${OUT:-gpu-results}/.
#   bench_mamba_train  tokens/s of a mamba-130m-sized training step (L=2048, bf16 autocast):
#                      fused vs reference at B=1, then fused alone at the issue's B=8, with a
#                      forward / backward / AdamW split of the step
#   bench_scan         BM_scan/{reference,cuda}/{fwd,fwdbwd} at B=8 D=1536 L=2048 N=16, fp32 and bf16
#   bench_ssd          Mamba-2 SSD chunked vs sequential on CUDA (B=4 L=2048 H=24 P=64 N=64 Q=256)
#   nsys (if present)  per-kernel GPU time of 3 fused B=8 steps: $OUT/nsys_kernels.txt
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}; mkdir -p "$OUT"
source .deps/env.sh
B=build-gpu/bin
t0=$(date +%s)
step() { echo "[gpu-bench] $1 exit $2 after $(( $(date +%s) - t0 )) s"; }
LM="--device cuda --bf16 --d-model 768 --n-layer 24 --seq-len 2048"
timeout ${TRAIN_TIMEOUT_S:-150} $B/bench_mamba_train $LM --batch 1 --warmup 1 --steps 10 --max-seconds 30 \
  --log "$OUT/bench.jsonl" > "$OUT/bench_mamba_train_b1.txt" 2>&1
step "bench_mamba_train B=1" $?; tail -5 "$OUT/bench_mamba_train_b1.txt"
timeout ${TRAIN_TIMEOUT_S:-150} $B/bench_mamba_train $LM --batch 8 --impls auto --warmup 2 --steps 10 \
  --log "$OUT/bench.jsonl" > "$OUT/bench_mamba_train_b8.txt" 2>&1
step "bench_mamba_train B=8" $?; tail -3 "$OUT/bench_mamba_train_b8.txt"
timeout ${SCAN_TIMEOUT_S:-200} $B/bench_scan --threads 16 --benchmark_filter="${BENCH_FILTER:-B:8}" \
  --benchmark_out="$OUT/bench_scan.json" --benchmark_out_format=json --benchmark_counters_tabular=true \
  > "$OUT/bench_scan.txt" 2>&1
step bench_scan $?
sed 's/\x1b\[[0-9;]*m//g' "$OUT/bench_scan.txt" | grep -E "BM_|ratio|speedup"
timeout ${SSD_TIMEOUT_S:-120} $B/bench_ssd --threads 16 --benchmark_filter=cuda \
  --benchmark_out="$OUT/bench_ssd.json" --benchmark_out_format=json > "$OUT/bench_ssd.txt" 2>&1
step bench_ssd $?
sed 's/\x1b\[[0-9;]*m//g' "$OUT/bench_ssd.txt" | grep -E "BM_|speedup"
if command -v nsys > /dev/null && [ "${NSYS:-1}" = 1 ]; then
  timeout ${NSYS_TIMEOUT_S:-120} nsys profile -o "$OUT/prof" --force-overwrite true --stats=false \
    $B/bench_mamba_train $LM --batch 8 --impls auto --warmup 1 --steps 2 --log "$OUT/nsys_bench.jsonl" > "$OUT/nsys.log" 2>&1
  step nsys $?
  nsys stats --report cuda_gpu_kern_sum --format csv "$OUT/prof.nsys-rep" > "$OUT/nsys_kernels.csv" 2>> "$OUT/nsys.log"
  nsys stats --report cuda_gpu_kern_sum "$OUT/prof.nsys-rep" 2>/dev/null | head -40 > "$OUT/nsys_kernels.txt"
  rm -f "$OUT/prof.nsys-rep" "$OUT/prof.sqlite"
  head -25 "$OUT/nsys_kernels.txt"
else
  echo "[gpu-bench] nsys not found: no per-kernel profile"
fi
