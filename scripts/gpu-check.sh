#!/usr/bin/env bash
# On the GPU machine (device tool): build everything with CUDA, run the whole test suite
# (GPU tests included) and the GPU benchmarks; results go to ${OUT:-gpu-results}/.
# Prepare here first:  ./scripts/gpu-deps.sh   (then carry .deps)
#   run: source .deps/env.sh && ./scripts/gpu-check.sh [ctest args]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}; mkdir -p "$OUT"
source .deps/env.sh
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nvcc --version | tail -1
} 2>&1 | tee "$OUT/device.txt"
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 $CMAKE_ARGS_DEPS \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
grep -E "^-- ssmlab" "$OUT/configure.log"
cmake --build build-gpu -j "$(nproc)" > "$OUT/build.log" 2>&1 || { grep -m 30 -E "error" "$OUT/build.log"; tail -20 "$OUT/build.log"; exit 1; }
echo "[gpu-check] build: $(( $(date +%s) - start )) s"
(cd build-gpu && ctest --output-on-failure -j 8 --timeout 300 "$@") > "$OUT/ctest.log" 2>&1
rc=$?
grep -E "tests passed|tests failed|Not Run|\*\*\*Failed|Failed  |SKIPPED|Label Time|^[a-z_]+ +=" "$OUT/ctest.log" | tail -40
echo "[gpu-check] ctest exit $rc after $(( $(date +%s) - start )) s"
exit $rc
