#!/usr/bin/env bash
# Adds ICU to .deps/local for a GPU-machine build (run here, from the project root, after
# scripts/gpu-deps.sh, which packs .deps for the device tool). hf::Tokenizer needs ICU's common library (uc), and
# the GPU image has only the ICU 74 runtime, without headers: this copies Debian's ICU headers,
# libicuuc and libicudata (about 38 MB). gpu-deps.sh's env.sh already puts .deps/local on
# CMAKE_PREFIX_PATH (FindICU finds it there) and on LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
local_dir=.deps/local
lib=$local_dir/lib/x86_64-linux-gnu
test -f /usr/include/unicode/normalizer2.h || { echo "[gpu-icu] no ICU headers here: ./scripts/setup-deps.sh first" >&2; exit 1; }
mkdir -p "$local_dir/include" "$lib"
rm -rf "$local_dir/include/unicode"
cp -r /usr/include/unicode "$local_dir/include/"
cp -a /usr/lib/x86_64-linux-gnu/libicuuc.so* /usr/lib/x86_64-linux-gnu/libicudata.so* "$lib/"
echo "[gpu-icu] ICU $(sed -n 's/^#define U_ICU_VERSION "\(.*\)"/\1/p' /usr/include/unicode/uvernum.h) in $local_dir ($(du -sh .deps | cut -f1) in .deps)"
