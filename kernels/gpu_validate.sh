#!/usr/bin/env bash
# GPU validation of the kernels (device tool, H100): build the kernels' targets with CUDA in a pruned copy
# of the tree (only common/, plots/, kernels/, bench/, tests/kernels/), run the CUDA/CPU parity tests and
# the GPU benchmarks. Results go to $OUT (device tool) or ./gpu-results.
# Prepare here:  ./scripts/gpu-deps.sh  and the .deps-kern folder (Google Benchmark + GTest from Debian,
# see docs/performance.md); run there:  bash kernels/gpu_validate.sh   with carry [".deps", ".deps-kern"].
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$root/gpu-results}; mkdir -p "$OUT"
src=/tmp/ssmlab-kernels-src
rm -rf $src && mkdir -p $src/tests && cd "$root"
cp -a CMakeLists.txt cmake common plots kernels bench .deps .deps-kern $src/ 2>/dev/null
cp -a tests/CMakeLists.txt tests/kernels $src/tests/
cd $src
source .deps/env.sh
export CMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH:$src/.deps-kern"
export LD_LIBRARY_PATH="$src/.deps-kern/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nvcc --version | tail -1; } 2>&1 | tee "$OUT/device.txt"
t0=$(date +%s)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 $CMAKE_ARGS_DEPS > "$OUT/configure.log" 2>&1 \
  || { tail -30 "$OUT/configure.log"; exit 1; }
grep -E "^-- ssmlab|benchmark" "$OUT/configure.log"
cmake --build build -j 16 --target test_scan_cuda test_scan_cpu bench_scan > "$OUT/build.log" 2>&1 \
  || { grep -m 20 -E "error" -A3 "$OUT/build.log"; tail -5 "$OUT/build.log"; exit 1; }
echo "[kernels] build $(( $(date +%s) - t0 )) s"
./build/tests/test_scan_cuda > "$OUT/test_scan_cuda.log" 2>&1; echo "[kernels] test_scan_cuda rc=$?"
grep -E "^\[  (PASSED|FAILED|SKIPPED) |NOT OK|tests ran" "$OUT/test_scan_cuda.log" | head -20
grep -E "^(Cuda|conv1d|  out|  d[A-Za-z_]+ ) " "$OUT/test_scan_cuda.log" | awk '{print}' > "$OUT/parity_table.txt"
./build/tests/test_scan_cpu > "$OUT/test_scan_cpu.log" 2>&1; echo "[kernels] test_scan_cpu rc=$?"
tail -1 "$OUT/test_scan_cpu.log"
echo "[kernels] tests done $(( $(date +%s) - t0 )) s"
./build/bin/bench_scan --threads 16 --benchmark_filter="${BENCH_FILTER:-B:8}" --benchmark_out="$OUT/bench_gpu.json" \
  --benchmark_out_format=json --benchmark_counters_tabular=true > "$OUT/bench_gpu.txt" 2>&1
echo "[kernels] bench rc=$? after $(( $(date +%s) - t0 )) s"
sed 's/\x1b\[[0-9;]*m//g' "$OUT/bench_gpu.txt" | grep -E "BM_|ratio|speedup|pair"
