#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ (clang++, ASan + UBSan, into build-fuzz/) and runs them.
#   scripts/fuzz.sh [TARGET|all] [SECONDS] [-- LIBFUZZER FLAGS]
#       fuzz each target for SECONDS (default 60) from its committed corpus; new inputs go to
#       build-fuzz/corpus/<target>/, findings (crash-*, leak-*, timeout-*, oom-*) to
#       build-fuzz/artifacts/<target>/. Extra flags go to libFuzzer, e.g. -- -runs=1000000.
#   scripts/fuzz.sh --replay
#       runs every committed input (tests/fuzz/corpus/<target>/, tests/fuzz/regressions/<target>/)
#       once under the sanitizers; exits non-zero on any crash, leak, UB, timeout or OOM.
#       Exits 77 with a "SKIPPED" line when clang++ with libFuzzer is not installed.
#   scripts/fuzz.sh --merge [TARGET|all]
#       minimises tests/fuzz/corpus/<target>/ together with build-fuzz/corpus/<target>/ into
#       tests/fuzz/corpus/<target>/ (libFuzzer -merge=1 -use_counters=0: a small set of inputs with
#       the same edge coverage; hit-count features would keep ~4x the inputs). The full corpus stays
#       in build-fuzz/corpus/<target>/ for the next run.
#   scripts/fuzz.sh --list    the targets
# Targets and their -max_len / -dict come from build-fuzz/fuzz_targets.txt (tests/fuzz/CMakeLists.txt).
# Environment: FUZZ_BUILD_DIR (build-fuzz), JOBS (nproc), CXX/CC (clang++/clang).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}
CXX_BIN=${CXX:-clang++}
CC_BIN=${CC:-clang}
[[ "$CXX_BIN" == *clang* ]] || CXX_BIN=clang++   # a GCC in $CXX cannot build libFuzzer targets
[[ "$CC_BIN" == *clang* ]] || CC_BIN=clang
RSS_MB=2048     # -rss_limit_mb (and the malloc limit): a parser that wants more is a finding
TIMEOUT_S=10    # -timeout per input

mode=fuzz; target=all; seconds=60; extra=()
case "${1:-}" in
  --replay) mode=replay; shift ;;
  --merge) mode=merge; shift; target=${1:-all}; shift || true ;;
  --list) mode=list; shift ;;
  -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
esac
if [ "$mode" = fuzz ]; then
  [ $# -gt 0 ] && [ "$1" != "--" ] && { target=$1; shift; }
  [ $# -gt 0 ] && [ "$1" != "--" ] && { seconds=$1; shift; }
  [ $# -gt 0 ] && [ "$1" = "--" ] && { shift; extra=("$@"); }
fi

# --- toolchain: clang++ that links a libFuzzer target with ASan + UBSan ------------------------
skip() {
  echo "[fuzz] SKIPPED: $1" >&2
  echo "[fuzz]   install clang and its runtimes (Debian 12: clang libclang-rt-dev; scripts/setup-deps.sh does)" >&2
  exit 77
}
command -v "$CXX_BIN" >/dev/null || skip "no $CXX_BIN on PATH"
mkdir -p "$B/probe"
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
  >"$B/probe/probe.cpp"
"$CXX_BIN" -fsanitize=fuzzer,address,undefined "$B/probe/probe.cpp" -o "$B/probe/probe" 2>"$B/probe/probe.log" \
  || skip "$CXX_BIN cannot link a libFuzzer target with -fsanitize=fuzzer,address,undefined ($(head -c 300 "$B/probe/probe.log"))"

# --- build -----------------------------------------------------------------------------------------
start=$(date +%s)
exec 9>"$B/.build.lock"
flock 9   # several fuzz.sh at once (one per target) share build-fuzz/: one builds, the others wait
if [ ! -f "$B/CMakeCache.txt" ]; then
  echo "[fuzz] configuring into $B/ ($CXX_BIN, SSMLAB_FUZZ=ON)"
  cmake -S . -B "$B" -DSSMLAB_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$CXX_BIN" \
    -DCMAKE_C_COMPILER="$CC_BIN" >"$B/configure.log" 2>&1 || { cat "$B/configure.log"; exit 1; }
fi
echo "[fuzz] building the fuzz targets with $JOBS jobs (log: $B/build.log)"
cmake --build "$B" -j "$JOBS" --target fuzz_targets >"$B/build.log" 2>&1 \
  || { grep -m 40 -E "error|Error" "$B/build.log" || tail -40 "$B/build.log"; exit 1; }
echo "[fuzz] build done in $(( $(date +%s) - start )) s"
flock -u 9

mapfile -t TARGETS < <(grep -v '^#' "$B/fuzz_targets.txt" | awk '{print $1}')
info() { awk -v t="$1" -v f="$2" '$1 == t {print $f}' "$B/fuzz_targets.txt"; }
if [ "$mode" = list ]; then printf '%s\n' "${TARGETS[@]}"; exit 0; fi
selected=("${TARGETS[@]}")
if [ "$target" != all ]; then
  info "$target" 1 | grep -q . || { echo "[fuzz] unknown target '$target' (known: ${TARGETS[*]})" >&2; exit 2; }
  selected=("$target")
fi

# Sanitizers: every finding is fatal (the targets are compiled with -fno-sanitize-recover=all too).
SYMB=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:allocator_may_return_null=0:detect_stack_use_after_return=1${SYMB:+:external_symbolizer_path=$SYMB}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:silence_unsigned_overflow=0"
COMMON=(-rss_limit_mb=$RSS_MB -malloc_limit_mb=$RSS_MB -timeout=$TIMEOUT_S -error_exitcode=86 -timeout_exitcode=87
        -print_final_stats=1)
dirs_of() {  # committed input folders of a target that exist
  for d in "tests/fuzz/corpus/$1" "tests/fuzz/regressions/$1"; do [ -d "$d" ] && echo "$d"; done
}

if [ "$mode" = replay ]; then
  fail=0; rstart=$(date +%s)
  for t in "${selected[@]}"; do
    mapfile -t dirs < <(dirs_of "$t")
    n=0; for d in "${dirs[@]}"; do n=$((n + $(find "$d" -type f | wc -l))); done
    t0=$(date +%s)
    # -runs=0: execute the corpus once, no mutations; no -max_len, so no input is truncated.
    mkdir -p "$B/artifacts/replay"
    if "$B/bin/fuzz_$t" "${COMMON[@]}" -runs=0 -artifact_prefix="$B/artifacts/replay/$t-" "${dirs[@]}" >"$B/replay_$t.log" 2>&1; then
      echo "[fuzz] replay $t: $n inputs ok ($(( $(date +%s) - t0 )) s)"
    else
      echo "[fuzz] replay $t: FAILED on one of $n inputs (log: $B/replay_$t.log):"
      grep -E "ERROR|SUMMARY|runtime error|Test unit written|violated|==[0-9]+==" "$B/replay_$t.log" | head -20
      fail=1
    fi
  done
  echo "[fuzz] replay done in $(( $(date +%s) - rstart )) s ($(( $(date +%s) - start )) s with the build)"
  exit $fail
fi

if [ "$mode" = merge ]; then
  for t in "${selected[@]}"; do
    mkdir -p "$B/corpus/$t" "tests/fuzz/corpus/$t"
    rm -rf "$B/merged/$t"; mkdir -p "$B/merged/$t"
    before=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
    "$B/bin/fuzz_$t" "${COMMON[@]}" -max_len="$(info "$t" 2)" -merge=1 -use_counters=0 "$B/merged/$t" "tests/fuzz/corpus/$t" "$B/corpus/$t" \
      >"$B/merge_$t.log" 2>&1 || { tail -20 "$B/merge_$t.log"; exit 1; }
    rm -f "tests/fuzz/corpus/$t"/*
    cp "$B/merged/$t"/* "tests/fuzz/corpus/$t"/
    echo "[fuzz] merge $t: $before committed + $(find "$B/corpus/$t" -type f | wc -l) new -> $(find "tests/fuzz/corpus/$t" -type f | wc -l) inputs, $(du -sk "tests/fuzz/corpus/$t" | cut -f1) KB"
  done
  exit 0
fi

# --- fuzz ------------------------------------------------------------------------------------------
fail=0
printf '%-12s %12s %9s %8s %8s %8s %s\n' target execs exec/s corpus new cov result
for t in "${selected[@]}"; do
  mkdir -p "$B/corpus/$t" "$B/artifacts/$t" "$B/logs"
  mapfile -t dirs < <(dirs_of "$t")
  dict=$(info "$t" 3)
  args=("${COMMON[@]}" -max_len="$(info "$t" 2)" -max_total_time="$seconds" -artifact_prefix="$B/artifacts/$t/")
  [ "$dict" != "-" ] && args+=(-dict="tests/fuzz/$dict")
  log="$B/logs/$t.log"
  echo "[fuzz] $t: $B/bin/fuzz_$t ${args[*]} ${extra[*]:-} $B/corpus/$t ${dirs[*]}" >"$log"
  set +e
  "$B/bin/fuzz_$t" "${args[@]}" "${extra[@]}" "$B/corpus/$t" "${dirs[@]}" >>"$log" 2>&1
  rc=$?
  set -e
  stat() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}'; }
  cov=$(grep -E "^#[0-9]+" "$log" | tail -1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  corpus=$(grep -E "^#[0-9]+" "$log" | tail -1 | sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
  res=ok; [ $rc -ne 0 ] && { res="FINDING (exit $rc, see $log and $B/artifacts/$t/)"; fail=1; }
  printf '%-12s %12s %9s %8s %8s %8s %s\n' "$t" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" \
    "${corpus:-?}" "$(stat new_units_added)" "${cov:-?}" "$res"
done
exit $fail
