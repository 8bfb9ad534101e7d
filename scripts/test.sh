#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest), then replays the fuzz corpora
# (scripts/fuzz.sh --replay) and type-checks the CUDA-only code (scripts/check-cuda-bindings.sh).
# Extra args go to ctest, e.g. -L duality (and skip the replay and the type-check).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh
source scripts/data-env.sh
./scripts/build.sh
# The venv for the differential tokenizer tests (Hugging Face tokenizers from PyPI); without it
# those tests are skipped with the reason, the rest still runs.
./scripts/py-venv.sh || echo "[test] warning: no Python venv with tokenizers: the differential tokenizer tests will be skipped" >&2
set +e
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j "${JOBS:-$(nproc)}" "$@")
rc=$?
set -e
# extra_check NAME SKIP_CODE WHY_SKIPPED COMMAND...: runs one check after ctest; its exit SKIP_CODE means
# "cannot run here" (a loud warning), any other non-zero exit fails the suite.
extra_check() {
  local name=$1 skip=$2 why=$3 r; shift 3
  set +e; "$@"; r=$?; set -e
  if [ $r -eq "$skip" ]; then
    echo "[test] WARNING: $name SKIPPED ($why; see above)" >&2
  elif [ $r -ne 0 ]; then
    echo "[test] $name FAILED ($*)" >&2
    rc=1
  fi
}
# Fuzz corpus replay (docs/reliability.md, "Fuzzing"): every committed input of tests/fuzz/corpus
# and tests/fuzz/regressions once through its libFuzzer target under ASan + UBSan, built in
# build-fuzz/ with clang++ (~3 min on 2 cores the first time). Only with the full suite (no ctest
# arguments); SSMLAB_FUZZ_REPLAY=0 skips it. Without clang/libFuzzer it is skipped, loudly.
if [ $# -eq 0 ] && [ "${SSMLAB_FUZZ_REPLAY:-1}" != 0 ]; then
  extra_check "fuzz corpus replay" 77 "no clang++ with libFuzzer" ./scripts/fuzz.sh --replay
else
  echo "[test] fuzz corpus replay not run (ctest arguments given, or SSMLAB_FUZZ_REPLAY=0): scripts/fuzz.sh --replay"
fi
# The CUDA-only LibTorch code (kernels/*_cuda.cpp, the SSMLAB_WITH_CUDA branches) is compiled only on a GPU
# machine; type-check it here against LibTorch's and the CUDA toolkit's headers (~20 s), so a CPU-side change
# that breaks it fails CI instead of a GPU call. Only with the full suite; without those headers it is skipped,
# loudly (exit 2).
if [ $# -eq 0 ]; then
  extra_check "CUDA binding type-check" 2 "no CUDA or c10/cuda headers" ./scripts/check-cuda-bindings.sh
fi
exit $rc
