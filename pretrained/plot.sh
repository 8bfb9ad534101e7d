#!/usr/bin/env bash
# pretrained/plot.sh LOG PLOTS_DIR BIN: the paper's three panels from pretrained_eval's log, as declared
# in pretrained/plots.json (accuracy vs length per task, one line per model, squad also as F1), through
# plot_logs --spec. A task with no evaluated point in the log is skipped with a note.
set -euo pipefail
LOG=$1 PLOTS=$2 BIN=$3
exec "$BIN/plot_logs" --spec "$(dirname "$0")/plots.json" --logs "$LOG" --plot-dir "$PLOTS" --quiet
