#!/usr/bin/env bash
# The main job: set up, build, run every experiment family in its quick (or full) size, check
# the logs, draw each family's figures from its log and write <out>/report.md. The data flows one
# way: config -> run -> JSONL -> check_logs -> plot_logs --spec <family>/plots.json -> report.
#
#   ./scripts/reproduce.sh --quick            # minutes on 2 cores (default)
#   ./scripts/reproduce.sh --full             # the paper-size configurations (hours)
#   ./scripts/reproduce.sh --quick --out DIR  # outputs elsewhere (default: outputs/)
#   ./scripts/reproduce.sh --only duality     # a comma-separated subset of families
#
# Each family contributes one step, scripts/reproduce.d/NN-<family>.sh, run with
#   MODE=quick|full  OUT=<out>  LOGS=<out>/logs  PLOTS=<out>/plots  BIN=build/bin
# A failing step is reported and the others still run; the exit code is non-zero if any
# step or any log check fails.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=quick OUT=outputs ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --out) OUT=${2:?--out needs a folder}; shift ;;
    --only) ONLY=${2:?--only needs family names}; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
set -e
./scripts/setup-deps.sh
source scripts/data-env.sh
./scripts/build.sh
set +e
export MODE OUT LOGS="$OUT/logs" PLOTS="$OUT/plots" BIN="$PWD/${BUILD_DIR:-build}/bin"
# Keep earlier results: move the previous logs aside instead of appending to them.
if [ -d "$LOGS" ] && ls "$LOGS"/*.jsonl >/dev/null 2>&1; then
  prev="$OUT/previous/$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$prev"; mv "$LOGS" "$prev/logs"
  echo "[reproduce] previous logs moved to $prev/logs"
fi
mkdir -p "$LOGS" "$PLOTS"
t0=$(date +%s)
declare -a rows
failed=0
for step in scripts/reproduce.d/*.sh; do
  fam=$(basename "$step" .sh); fam=${fam#*-}
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$fam,"* ]]; then continue; fi
  echo; echo "[reproduce] ===== $fam ($MODE) ====="
  s=$(date +%s)
  bash "$step"
  rc=$?
  dt=$(( $(date +%s) - s ))
  if [ $rc -eq 0 ]; then rows+=("| $fam | ok | ${dt} s |"); else rows+=("| $fam | **FAILED (exit $rc)** | ${dt} s |"); failed=1; fi
  echo "[reproduce] $fam finished in ${dt} s (exit $rc)"
done
echo; echo "[reproduce] ===== check_logs ====="
logs=("$LOGS"/*.jsonl)
"$BIN/check_logs" "${logs[@]}" --report "$OUT/report.checks.md"
check_rc=$?
[ $check_rc -eq 0 ] || failed=1
echo; echo "[reproduce] ===== figures (plot_logs --spec) ====="
figure_notes=()
for spec in */plots.json; do
  fam=$(sed -n 's/^ *"family": *"\([^"]*\)".*/\1/p' "$spec" | head -n 1)
  [ -f "$LOGS/$fam.jsonl" ] || continue
  echo "[reproduce] $spec <- $LOGS/$fam.jsonl"
  if ! "$BIN/plot_logs" --spec "$spec" --logs "$LOGS/$fam.jsonl" --plot-dir "$PLOTS" --quiet; then
    figure_notes+=("- **figures of $fam FAILED** (plot_logs --spec $spec)"); failed=1
  fi
done
{
  echo "# ssmlab reproduction report"
  echo
  echo "Mode: \`$MODE\`; finished $(date -u +%Y-%m-%dT%H:%M:%SZ); git $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); $(( $(date +%s) - t0 )) s after the build."
  echo
  echo "## Steps"
  echo
  echo "| family | status | time |"; echo "|---|---|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Experiments and their checks (check_logs)"
  echo
  cat "$OUT/report.checks.md"
  echo
  echo "## Plots"
  echo
  [ ${#figure_notes[@]} -eq 0 ] || { printf '%s\n' "${figure_notes[@]}"; echo; }
  for p in "$PLOTS"/*.png; do [ -f "$p" ] && echo "- [$(basename "$p")](plots/$(basename "$p"))"; done
} > "$OUT/report.md"
rm -f "$OUT/report.checks.md"
echo "[reproduce] report: $OUT/report.md   logs: $LOGS   plots: $PLOTS"
if [ $failed -ne 0 ]; then echo "[reproduce] FAILED (see above)"; exit 1; fi
echo "[reproduce] all steps and checks passed in $(( $(date +%s) - t0 )) s"
