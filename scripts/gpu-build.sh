#!/usr/bin/env bash
# On the GPU machine (after ./scripts/gpu-deps.sh here, carry build-gpudeps and unpack it): configure build-gpu/ once (Ninja,
# Release, CUDA for sm_90, the .deps paths) and build the given targets, or everything. The configure
# and build logs stay in build-gpu/ (the device tool brings back only a few files from $OUT).
#   scripts/gpu-build.sh [target ...]
set -uo pipefail
cd "$(dirname "$0")/.."
source .deps/env.sh
mkdir -p build-gpu
if [ ! -f build-gpu/build.ninja ]; then
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 $CMAKE_ARGS_DEPS \
    > build-gpu/configure.log 2>&1 || { tail -40 build-gpu/configure.log; exit 1; }
  grep -E "^-- ssmlab" build-gpu/configure.log
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build-gpu -j "$(nproc)" "${targets[@]}" > build-gpu/build.log 2>&1 \
  || { grep -m 30 -E "error" build-gpu/build.log; tail -20 build-gpu/build.log; exit 1; }
