# Sourced by the LibTorch steps of scripts/reproduce.d/: the environment every step reads, with its
# defaults, and the check that the step's binary was built.
#   source "$(dirname "$0")/../lib/reproduce-step.sh"; step_env <family> <binary> "<what it needs>"
# Sets MODE (quick), ROOT, BIN, OUT, LOGS, PLOTS (created); exits 1 with a note when BIN/<binary> is missing.
step_env() {
  MODE=${MODE:-quick}
  ROOT=$(cd "$(dirname "${BASH_SOURCE[1]}")/../.." && pwd)
  BIN=${BIN:-$ROOT/build/bin}
  OUT=${OUT:-$ROOT/outputs}
  LOGS=${LOGS:-$OUT/logs}
  PLOTS=${PLOTS:-$OUT/plots}
  mkdir -p "$LOGS" "$PLOTS"
  if [ ! -x "$BIN/$2" ]; then
    echo "[$1] $BIN/$2 not built (needs $3): skipped" >&2
    exit 1
  fi
}
