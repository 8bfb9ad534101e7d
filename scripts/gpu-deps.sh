#!/usr/bin/env bash
# Prepares .deps/ for a GPU-machine build: Boost.Program_options (../shared/gpu/prepare-deps.sh)
# plus the nlohmann/json header, which that machine's image lacks. Run from the project root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ../shared/gpu/prepare-deps.sh
# ICU headers/libraries for the tokenizer (the GPU image has the runtime only)
./scripts/gpu-icu.sh
# libzip (pytorch_model.bin) and zlib's header (checkpoint CRC-32): see gpu-zip.sh
./scripts/gpu-zip.sh
mkdir -p .deps/include
cp -r /usr/include/nlohmann .deps/include/
# GoogleTest/GMock and Google Benchmark as Debian builds them (headers, static libs, CMake configs):
# the GPU image's own copies are not always found by CMake, these always are.
local_dir=.deps/local
mkdir -p $local_dir/include $local_dir/lib/x86_64-linux-gnu/cmake
for h in gtest gmock benchmark; do cp -r /usr/include/$h $local_dir/include/; done
cp -a /usr/lib/x86_64-linux-gnu/libgtest* /usr/lib/x86_64-linux-gnu/libgmock* /usr/lib/x86_64-linux-gnu/libbenchmark* \
  $local_dir/lib/x86_64-linux-gnu/
cp -r /usr/lib/x86_64-linux-gnu/cmake/GTest /usr/lib/x86_64-linux-gnu/cmake/benchmark $local_dir/lib/x86_64-linux-gnu/cmake/
# yaml-cpp (--config FILE.yaml): Debian's headers, shared library and CMake config, found through
# CMAKE_PREFIX_PATH like GTest above; it needs only libstdc++ at run time. Optional: without it the
# GPU build still works and refuses YAML configs with a clear message.
if [ -d /usr/include/yaml-cpp ]; then
  cp -r /usr/include/yaml-cpp $local_dir/include/
  cp -a /usr/lib/x86_64-linux-gnu/libyaml-cpp.so* $local_dir/lib/x86_64-linux-gnu/
  cp -r /usr/lib/x86_64-linux-gnu/cmake/yaml-cpp $local_dir/lib/x86_64-linux-gnu/cmake/
else
  echo "[gpu-deps] no yaml-cpp here (./scripts/setup-deps.sh installs libyaml-cpp-dev): the GPU build will refuse .yaml configs" >&2
fi
grep -q "deps/local" .deps/env.sh || cat >> .deps/env.sh <<'ENV'
export CMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH:$PWD/.deps/local"
export LD_LIBRARY_PATH="$PWD/.deps/local/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ENV
# The device tool carries at most 64 MiB (counted in disk blocks) with the working tree, and the
# tree's many small fuzz-corpus files plus .deps (~54 MB, most of it ICU's data) exceed that: the
# same folder as one xz archive (~10 MB) in build-gpudeps/ (git-ignored), unpacked there first.
mkdir -p build-gpudeps
tar -cJf build-gpudeps/deps.tar.xz .deps
echo "[gpu-deps] .deps ready: run with carry [\"build-gpudeps\"] and 'tar -xJf build-gpudeps/deps.tar.xz && source .deps/env.sh' there"
