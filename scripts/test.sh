#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest). Extra args go to ctest, e.g. -L duality.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh
./scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" "$@"
