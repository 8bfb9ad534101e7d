#!/usr/bin/env bash
# On the GPU machine: the benchmarks behind docs/performance.md (builds what it needs in build-gpu/
# through scripts/gpu-build.sh, so it runs alone or after scripts/gpu-check.sh). Results go to ${OUT:-gpu-results}/.
#   bench_mamba_train  tokens/s of a mamba-130m-sized training step (L=2048, bf16 autocast): fused vs
#                      reference at B=1 (TRAIN_B1=1), then fused alone at the issue's B=8, each with a
#                      forward / backward / AdamW split of the step
#   bench_scan         BM_scan/{reference,cuda}/{fwd,fwdbwd} at B=8 D=1536 L=2048 N=16, fp32 and bf16
#   bench_ssd          Mamba-2 SSD chunked vs sequential on CUDA, B=4 L=2048 H=24 P=64 N=64 Q=256 (SSD=1)
#   ncu                Nsight Compute on one forward and one backward scan kernel of the bench_scan
#                      shape (NCU=1): speed of light, warp stall reasons -> $OUT/ncu_scan.txt
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}; mkdir -p "$OUT"
source .deps/env.sh
t0=$(date +%s)
step() { echo "[gpu-bench] $1 exit $2 after $(( $(date +%s) - t0 )) s"; }
./scripts/gpu-build.sh bench_scan bench_mamba_train bench_ssd || exit 1
step build 0
B=build-gpu/bin
LM="--device cuda --bf16 --d-model 768 --n-layer 24 --seq-len 2048"
if [ "${TRAIN_B1:-1}" = 1 ]; then
  timeout ${TRAIN_TIMEOUT_S:-150} $B/bench_mamba_train $LM --batch 1 --warmup 1 --steps 10 --max-seconds 30 \
    --log "$OUT/bench.jsonl" > "$OUT/bench_mamba_train_b1.txt" 2>&1
  step "bench_mamba_train B=1" $?; tail -5 "$OUT/bench_mamba_train_b1.txt"
fi
timeout ${TRAIN_TIMEOUT_S:-150} $B/bench_mamba_train $LM --batch 8 --impls auto --warmup 2 --steps 10 \
  --log "$OUT/bench.jsonl" > "$OUT/bench_mamba_train_b8.txt" 2>&1
step "bench_mamba_train B=8" $?; tail -3 "$OUT/bench_mamba_train_b8.txt"
timeout ${SCAN_TIMEOUT_S:-200} $B/bench_scan --threads 16 --benchmark_filter="${BENCH_FILTER:-B:8}" \
  --benchmark_out="$OUT/bench_scan.json" --benchmark_out_format=json --benchmark_counters_tabular=true \
  > "$OUT/bench_scan.txt" 2>&1
step bench_scan $?
sed 's/\x1b\[[0-9;]*m//g' "$OUT/bench_scan.txt" | grep -E "BM_|ratio|speedup"
if [ "${SSD:-1}" = 1 ]; then
  timeout ${SSD_TIMEOUT_S:-120} $B/bench_ssd --threads 16 --benchmark_filter=cuda \
    --benchmark_out="$OUT/bench_ssd.json" --benchmark_out_format=json > "$OUT/bench_ssd.txt" 2>&1
  step bench_ssd $?
  sed 's/\x1b\[[0-9;]*m//g' "$OUT/bench_ssd.txt" | grep -E "BM_|speedup"
fi
if [ "${NCU:-1}" = 1 ] && command -v ncu > /dev/null; then
  timeout ${NCU_TIMEOUT_S:-150} ncu --clock-control none -k regex:scan_ -c 2 \
    --section SpeedOfLight --section WarpStateStats --section Occupancy --section LaunchStats \
    $B/bench_scan --threads 4 --benchmark_filter='cuda/fwdbwd/B:8.*bf16' \
    > "$OUT/ncu_scan.txt" 2>&1
  step ncu $?
  grep -E "scan_(fwd|bwd)_kernel|Duration|Memory Throughput|Compute \(SM\)|Achieved Occupancy|Stall|Warp Cycles Per Issued|Registers Per" "$OUT/ncu_scan.txt" | head -40
fi
