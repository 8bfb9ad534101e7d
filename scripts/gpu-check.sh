#!/usr/bin/env bash
# On the GPU machine (device tool): build everything with CUDA, run the whole test suite
# (GPU tests included); the device facts and CTest's log go to ${OUT:-gpu-results}/ctest.log, the
# configure and build logs to build-gpu/ (scripts/gpu-build.sh).
# Prepare here first:  ./scripts/gpu-deps.sh   (then carry build-gpudeps; tar -xJf build-gpudeps/deps.tar.xz there)
#   run: source .deps/env.sh && ./scripts/gpu-check.sh [ctest args]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}; mkdir -p "$OUT"
source .deps/env.sh
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nvcc --version | tail -1
} 2>&1 | tee "$OUT/ctest.log"
start=$(date +%s)
./scripts/gpu-build.sh || exit 1
echo "[gpu-check] build: $(( $(date +%s) - start )) s"
(cd build-gpu && ctest --output-on-failure -j 8 --timeout 300 "$@") >> "$OUT/ctest.log" 2>&1
rc=$?
# the summary: pass count, per-label times, and the names of failed or skipped tests
sed -n '/tests passed/,$p' "$OUT/ctest.log" | grep -v "^Errors while"
grep -E "\*\*\*Skipped|Disabled" "$OUT/ctest.log" | sed 's/^ *//' | head -20
echo "[gpu-check] ctest exit $rc after $(( $(date +%s) - start )) s"
exit $rc
