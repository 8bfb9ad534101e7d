// log_plot.h — from JSONL logs to figures: selects the records of one experiment and turns them into
// PlotSpecs (ssmlab/plot.h). The one road from a log to a figure: plot_logs draws one figure from its
// flags, or every figure a <family>/plots.json declares (plot_logs --spec; the keys of a figure there
// are these flags with '_' for '-', docs/architecture.md shows the flow).
//
// Paths are dotted into a record ("metrics.rank", "params.T", "seed"); a path absent from a record
// is looked up under "metrics." too, so "examples_seen" means "metrics.examples_seen".
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ssmlab/plot.h"

namespace ssmlab::plot {

struct LogQuery {
  std::vector<std::string> logs;     // JSONL files
  std::string experiment;            // records whose "experiment" equals this
  std::string record;                // "" = any; else the record kind ("result", "eval", ...)
  // Filters "PATH OP VALUE", OP one of = != < <= > >=. = and != compare the text of the value (a
  // string as is, anything else as JSON: params.end_to_end=true); < <= > >= compare numbers (a
  // record whose value is not a number does not match).
  std::vector<std::string> where;
  std::string x;                     // dotted path, e.g. "params.T"
  std::vector<std::string> y;        // one series family per path, e.g. "metrics.t_rec_s"
  std::vector<std::string> err;      // optional, one per y: symmetric error path
  std::vector<std::string> y_titles; // optional, one per y
  std::string group_by;              // dotted path: one series per distinct value
  std::string group_label;           // legend text before each group's value, e.g. "N = "
  // Series (group values) and x categories listed here come first, in this order; the others follow
  // (groups in text order, categories in first-seen order).
  std::vector<std::string> order;
  std::string aggregate = "none";    // none | mean_std | mean_ci95 (points sharing x)
  // Path (e.g. "seed"): the points of a series that share x are keyed by this path's value, a later
  // record replacing an earlier one with the same value (a resumed run continues its curve), then
  // aggregated over the values: a band over seeds.
  std::string band_over;
  bool minmax = false;               // also the min and max over the aggregated values, dashed, same colour
  bool complete_bands = false;       // error when a series lacks a band_over value another series has
  bool latest_only = false;          // keep only the newest run_id per series
  double ema = 1.0;                  // weight of the newest point in an EMA along x (1 = no smoothing)
  // A number as text ("" = off): a series whose x values all equal it (e.g. N = 0: a model without a
  // state size) is drawn as a flat line across the other series' x range, titled "<title> (no <x>)".
  std::string flat_x;
  bool x_labels = false;             // x holds categories: drawn at 0, 1, ... (first-seen order), text as tics
};

// One figure (or one per value of split_by) as plot_logs draws it.
struct Figure {
  LogQuery q;
  // title, xlabel, ylabel, output (.png path), logx, logy, refs. The title may hold {max:PATH} or
  // {min:PATH}: the largest / smallest value of PATH over the figure's records (%g); with
  // latest_only, over the records drawn (the newest run of each series), so a value logged once per
  // run (a fitted slope) names the run on the figure.
  PlotSpec plot;
  std::string style = "linespoints";   // lines|linespoints|points|errorbars|band|bars
  std::vector<std::string> y_styles;   // optional, one per y (overrides style)
  // Reference lines at the mean of each path over the experiment's records that pass `where`, of any
  // record kind (a noise floor logged in "result" records drawn on a figure of "epoch" records);
  // titled by ref_from_titles.
  std::vector<std::string> ref_from, ref_from_titles;
  // Path: one figure per distinct value; its output gets "_<value>" (safe_file_name) before ".png"
  // and its title ", <value>".
  std::string split_by;
};

// No record of the experiment passes the filters (plot_logs --spec skips such a figure with a note).
struct EmptySelection : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Style parse_style(const std::string& name);  // throws on an unknown name
// Exponential moving average: out[0] = y[0], out[i] = alpha * y[i] + (1 - alpha) * out[i-1].
std::vector<double> ema(const std::vector<double>& y, double alpha);

// The figures of `f`, series filled from the logs. Throws EmptySelection when nothing matches, and
// std::runtime_error on a bad filter, no numeric (x, y) pair, or --complete-bands finding a gap.
std::vector<PlotSpec> make_figures(const Figure& f);

// Fills spec.series from the logs (throws with a clear message when nothing matches).
void add_series_from_logs(const LogQuery& q, Style style, PlotSpec& spec);

}  // namespace ssmlab::plot
