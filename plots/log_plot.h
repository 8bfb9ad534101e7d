// log_plot.h — selects records from JSONL logs and turns them into a PlotSpec.
// Used by the plot_logs binary and by any binary that plots straight from its log.
#pragma once

#include <string>
#include <vector>

#include "ssmlab/plot.h"

namespace ssmlab::plot {

struct LogQuery {
  std::vector<std::string> logs;     // JSONL files
  std::string experiment;            // records whose "experiment" equals this
  std::string record;                // "" = any; else the record kind ("result", "eval", ...)
  std::vector<std::string> where;    // "path=value" filters (value compared as JSON or as text)
  std::string x;                     // dotted path, e.g. "params.T"
  std::vector<std::string> y;        // one series family per path, e.g. "metrics.t_rec_s"
  std::vector<std::string> err;      // optional, one per y: symmetric error path
  std::vector<std::string> y_titles; // optional, one per y
  std::string group_by;              // dotted path: one series per distinct value
  std::string aggregate = "none";    // none | mean_std | mean_ci95 (points sharing x)
  bool latest_only = false;          // keep only the newest run_id per series
};

// Fills spec.series from the logs (throws with a clear message when nothing matches).
void add_series_from_logs(const LogQuery& q, Style style, PlotSpec& spec);

}  // namespace ssmlab::plot
