// plot_runs — plots of the time_series family from its JSONL log.
//
//   plot_runs --task synthetic_decays [--latest-only] [--log-val-curves] [--logs FILE ...] [--plot_dir DIR]
//
// synthetic_decays (exp_synthetic_ndecay records) draws
//   synthetic_decays_val_mse_vs_N.png        final validation MSE against N, one series per model,
//                                            log y, with the noise floor as a reference line;
//   synthetic_decays_val_curves_<model>.png  validation MSE per epoch, one series per N
//                                            (log y with --log-val-curves); <model> is the
//                                            model name reduced by safe_file_name (a name from
//                                            the log cannot leave --plot_dir).
// Without --latest-only, points of several runs that share (model, N[, epoch]) are averaged
// geometrically; with it, each model keeps only its newest run.
#include "ssmlab/main_guard.h"
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <set>

#include "ssmlab/cli.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/plot.h"
#include "ssmlab/safe_io.h"

namespace {

using Json = nlohmann::json;

struct GeoMean {
  double sum_log = 0;
  int n = 0;
  void add(double v) { sum_log += std::log(v); ++n; }
  double value() const { return std::exp(sum_log / n); }
};

int run(int argc, char** argv) {
  using namespace ssmlab;
  std::string task = "synthetic_decays", plot_dir;
  std::vector<std::string> logs;
  bool latest_only = false, log_val_curves = false;
  Cli cli("plot_runs", "Draws the time_series plots from the JSONL log.", "time_series");
  cli.add("task", &task, "which plots: synthetic_decays").one_of({"synthetic_decays"});
  cli.add("logs", &logs, "JSONL logs to read (default <out>/logs/time_series.jsonl)");
  cli.add("plot_dir", &plot_dir, "folder for the PNGs (default <out>/time_series)").check(ssmlab::output_dir_check());
  cli.flag("latest-only", &latest_only, "keep only each model's newest run");
  cli.flag("log-val-curves", &log_val_curves, "logarithmic y axis on the validation curves");
  auto opts = cli.parse_or_exit(argc, argv);
  if (logs.empty()) logs.push_back(opts.out_dir + "/logs/time_series.jsonl");
  if (plot_dir.empty()) plot_dir = opts.out_dir + "/time_series";
  ssmlab::check_output_dir("plot_dir", plot_dir);  // before reading anything (exit 2)

  // ---- read the records ----
  std::vector<Json> results, epochs;
  for (const auto& path : logs) {
    std::vector<JsonlLine> lines;
    try {
      lines = read_jsonl(path);
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 1;
    }
    for (auto& l : lines) {
      const Json& r = l.value;
      if (!r.is_object() || r.value("experiment", "") != "exp_synthetic_ndecay") continue;
      if (!r.contains("metrics") || !r["metrics"].is_object() || !r["metrics"].contains("model") ||
          !r["metrics"]["model"].is_string())
        continue;
      std::string rec = r.value("record", "");
      if (rec == "result") results.push_back(r);
      else if (rec == "epoch") epochs.push_back(r);
    }
  }
  if (results.empty()) {
    std::cerr << "error: no exp_synthetic_ndecay results in";
    for (auto& p : logs) std::cerr << " " << p;
    std::cerr << " (run exp_synthetic_ndecay first)\n";
    return 1;
  }
  // newest run per model (by the timestamp of its result records)
  std::map<std::string, std::pair<std::string, std::string>> newest;  // model -> (timestamp, run_id)
  for (auto& r : results) {
    std::string model = r["metrics"]["model"], ts = r.value("timestamp", ""), id = r.value("run_id", "");
    if (!newest.count(model) || ts > newest[model].first) newest[model] = {ts, id};
  }
  auto keep = [&](const Json& r) {
    return !latest_only || r.value("run_id", "") == newest[r["metrics"]["model"].get<std::string>()].second;
  };

  // ---- final validation MSE against N ----
  std::map<std::string, std::map<int, GeoMean>> final_mse;  // model -> N -> val MSE
  GeoMean floor;
  std::set<int> all_N;
  for (auto& r : results) {
    if (!keep(r)) continue;
    const Json& m = r["metrics"];
    double v = m.value("val_mse", 0.0);
    if (!(v > 0)) continue;
    int N = m.value("N", 0);
    final_mse[m["model"].get<std::string>()][N].add(v);
    if (N > 0) all_N.insert(N);
    if (m.value("noise_mse", 0.0) > 0) floor.add(m["noise_mse"].get<double>());
  }
  std::vector<std::string> written;
  auto render = [&](const plot::PlotSpec& spec) {
    try {
      plot::render_plot(spec);
      written.push_back(spec.output);
    } catch (const std::exception& e) {
      std::cerr << "warning: " << spec.output << " not drawn: " << e.what() << "\n";
    }
  };
  {
    plot::PlotSpec spec;
    spec.title = "Mixture of decays: final validation MSE vs state size N";
    spec.xlabel = "state size N [states]";
    spec.ylabel = "validation MSE";
    spec.logy = true;
    spec.output = plot_dir + "/synthetic_decays_val_mse_vs_N.png";
    const int lo = all_N.empty() ? 1 : *all_N.begin(), hi = all_N.empty() ? 1 : *all_N.rbegin();
    for (auto& [model, byN] : final_mse) {
      plot::Series s;
      s.title = model;
      if (byN.size() == 1 && byN.begin()->first == 0) {  // N-independent model: a flat line
        s.title += " (no N)";
        s.x = {double(lo), double(hi)};
        s.y = {byN.begin()->second.value(), byN.begin()->second.value()};
        s.style = plot::Style::Lines;
      } else {
        for (auto& [N, g] : byN) { s.x.push_back(N); s.y.push_back(g.value()); }
      }
      spec.series.push_back(s);
    }
    if (floor.n) {
      char e[64];
      std::snprintf(e, sizeof e, "%.6g", floor.value());
      spec.refs.push_back({e, "noise floor"});
    }
    render(spec);
  }

  // ---- validation curves per N, one plot per model ----
  std::map<std::string, std::map<int, std::map<int, GeoMean>>> curves;  // model -> N -> epoch -> val
  for (auto& r : epochs) {
    if (!keep(r)) continue;
    const Json& m = r["metrics"];
    double v = m.value("val_mse", 0.0);
    if (!(v > 0)) continue;
    curves[m["model"].get<std::string>()][m.value("N", 0)][m.value("epoch", 0)].add(v);
  }
  for (auto& [model, byN] : curves) {
    plot::PlotSpec spec;
    spec.title = "Mixture of decays: validation MSE per epoch, " + model;
    spec.xlabel = "epoch";
    spec.ylabel = "validation MSE";
    spec.logy = log_val_curves;
    spec.output = plot_dir + "/synthetic_decays_val_curves_" + safe_file_name(model) + ".png";
    for (auto& [N, byE] : byN) {
      plot::Series s;
      s.title = N > 0 ? "N = " + std::to_string(N) : model;
      s.style = plot::Style::Lines;
      for (auto& [e, g] : byE) { s.x.push_back(e); s.y.push_back(g.value()); }
      spec.series.push_back(s);
    }
    if (floor.n && log_val_curves) {
      char e[64];
      std::snprintf(e, sizeof e, "%.6g", floor.value());
      spec.refs.push_back({e, "noise floor"});
    }
    render(spec);
  }
  for (auto& w : written)
    if (!opts.quiet) std::cout << "plot_runs: wrote " << w << "\n";
  // a machine without gnuplot warns (above) but does not fail
  return written.empty() && plot::gnuplot_available() ? 1 : 0;
}

}  // namespace

// Records come from a file anyone may have written: a field of the wrong type is an error
// (exit 1 with the message), never an uncaught exception.
static int ssmlab_main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: plot_runs: " << e.what() << "\n";
    return 1;
  }
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
