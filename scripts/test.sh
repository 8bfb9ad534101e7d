#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest). Extra args go to ctest, e.g. -L duality.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh
source scripts/data-env.sh
./scripts/build.sh
# The venv for the differential tokenizer tests (Hugging Face tokenizers from PyPI); without it
# those tests are skipped with the reason, the rest still runs.
./scripts/py-venv.sh || echo "[test] warning: no Python venv with tokenizers: the differential tokenizer tests will be skipped" >&2
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" "$@"
