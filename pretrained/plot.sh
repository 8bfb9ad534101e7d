#!/usr/bin/env bash
# pretrained/plot.sh LOG PLOTS_DIR BIN: the paper's three panels from pretrained_eval's log, through
# plot_logs: accuracy (exact match) vs length per task, one line per model (the newest run of each);
# squad also as F1. Skipped points (context rule, empty bucket) are left out. A task with no
# evaluated point in the log draws nothing. The line y = 1 (all correct) keeps the scale of a figure
# whose points are all 0 (the tiny random fixtures) from being misread.
set -euo pipefail
LOG=$1 PLOTS=$2 BIN=$3
mkdir -p "$PLOTS"
rc=0
plot() {  # task y ylabel xlabel file
  "$BIN/plot_logs" --logs "$LOG" --experiment pretrained_eval --record eval \
    --where "metrics.task=$1" --where metrics.skipped=false --x metrics.length --y "$2" \
    --group-by metrics.model --latest-only --style linespoints --title "$1: $3 vs length" \
    --xlabel "$4" --ylabel "$3" --ref 1 --ref-title "all correct" --output "$PLOTS/$5" --log none --quiet || rc=1
}
for task in c4_copy phone_book squad; do
  if ! grep -q "\"task\":\"$task\"" "$LOG" 2>/dev/null; then continue; fi
  case $task in
    c4_copy) plot c4_copy metrics.accuracy "exact-match accuracy" "copied text length [tokens]" pretrained_c4_copy.png ;;
    phone_book) plot phone_book metrics.accuracy "exact-match accuracy" "phone-book entries" pretrained_phone_book.png ;;
    squad)
      plot squad metrics.em "exact match" "paragraph length bucket (upper bound) [tokens]" pretrained_squad_em.png
      plot squad metrics.f1 "F1" "paragraph length bucket (upper bound) [tokens]" pretrained_squad_f1.png ;;
  esac
done
exit $rc
