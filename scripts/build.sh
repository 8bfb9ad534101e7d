#!/usr/bin/env bash
# Configures and builds ssmlab (Release) into ${BUILD_DIR:-build}/; binaries land in build/bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$BUILD_DIR"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  echo "[build] configuring into $BUILD_DIR/"
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >"$BUILD_DIR/configure.log" 2>&1 \
    || { cat "$BUILD_DIR/configure.log"; exit 1; }
  grep -E "^-- ssmlab" "$BUILD_DIR/configure.log" || true
fi
echo "[build] building with $JOBS jobs (the first build takes several minutes; full log: $BUILD_DIR/build.log)"
start=$(date +%s)
set +e
cmake --build "$BUILD_DIR" -j "$JOBS" 2>&1 | tee "$BUILD_DIR/build.log" | grep --line-buffered -E "Built target|error:"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "[build] FAILED (exit $rc); first errors:"; grep -m 40 -E "error|Error" "$BUILD_DIR/build.log" || tail -40 "$BUILD_DIR/build.log"
  exit 1
fi
echo "[build] done in $(( $(date +%s) - start )) s"
