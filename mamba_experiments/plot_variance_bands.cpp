// plot_variance_bands — mean ± std bands (and min / max lines) of a per-epoch metric over seeds,
// one PNG per metric, from the JSONL log of mamba_train only (its "epoch" records).
//
//   plot_variance_bands --log-path outputs/logs/mamba_experiments.jsonl --dataset wikitext2
//       --models mamba_simple mamba_SSD_diag_exp --metric val_loss val_ppl --require-all-models
//
// Runs are grouped by (model, seed); a seed's curve is the union of its runs' epoch records, a
// later record replacing an earlier one at the same epoch (so a resumed run continues its curve).
// Keep one configuration per log (reproduce.d/40-mamba_experiments.sh writes a fresh one per mode).
// Writes <out-dir>/variance_<dataset>_<metric>.png (+ .gp) and one "result" record (experiment
// plot_variance_bands): seeds per model, missing (model, seed) pairs, final mean / std per model.
#include "ssmlab/main_guard.h"
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "ssmlab/cli.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/plot.h"
#include "ssmlab/stats.h"

namespace fs = std::filesystem;
using nlohmann::json;

static int ssmlab_main(int argc, char** argv) {
  ssmlab::Cli cli("plot_variance_bands",
                  "Mean +- std bands (and min/max) per epoch over seeds, one PNG per metric, from mamba_train's JSONL log.",
                  "mamba_experiments", "mamba_experiments.jsonl");
  std::string log_path, out_dir, dataset = "wikitext2";
  std::vector<std::string> models, metrics{"val_loss"};
  bool require_all = false;
  cli.add("log-path", &log_path, "mamba_train's JSONL log (default <out>/logs/mamba_experiments.jsonl)");
  cli.add("out-dir", &out_dir, "folder of the PNGs (default <out>/plots)");
  cli.add("dataset", &dataset, "data set whose runs are drawn").one_of({"recall", "wikitext2", "tinystories", "text"});
  cli.add("models", &models, "models to draw (default: every model in the log)");
  cli.add("metric", &metrics, "metrics, one PNG each").one_of({"val_loss", "val_ppl", "train_loss", "val_acc"}).nonempty();
  cli.flag("require-all-models", &require_all, "error (exit 2) if a model lacks a seed another model has");
  bool linear_y = false;
  cli.flag("linear-y", &linear_y, "linear y axis for val_ppl too (default: logarithmic, the first epochs' perplexity dwarfs the rest)");
  auto opts = cli.parse_or_exit(argc, argv);
  if (log_path.empty()) log_path = (fs::path(opts.out_dir) / "logs" / "mamba_experiments.jsonl").string();
  if (out_dir.empty()) out_dir = (fs::path(opts.out_dir) / "plots").string();
  if (!fs::is_regular_file(log_path)) {
    std::cerr << "error: --log-path " << log_path << ": no such log file\n";
    return 2;
  }

  // model -> seed -> metric -> epoch -> value
  std::map<std::string, std::map<int64_t, std::map<std::string, std::map<double, double>>>> runs;
  std::vector<ssmlab::JsonlLine> lines;
  try {
    lines = ssmlab::read_jsonl(log_path);
  } catch (const std::exception& e) {
    std::cerr << "error: --log-path " << log_path << ": " << e.what() << "\n";
    return 2;
  }
  for (const auto& l : lines) {
    const json& r = l.value;
    if (!r.is_object() || r.value("experiment", "") != "mamba_train" || r.value("record", "") != "epoch") continue;
    if (!r.contains("metrics") || !r["metrics"].is_object()) continue;
    const json& m = r["metrics"];
    if (m.value("dataset", "") != dataset || !m.contains("epoch") || !r.contains("seed")) continue;
    const std::string model = m.value("model", "");
    if (!models.empty() && std::find(models.begin(), models.end(), model) == models.end()) continue;
    for (const auto& k : metrics)
      if (m.contains(k) && m[k].is_number()) runs[model][r["seed"].get<int64_t>()][k][m["epoch"].get<double>()] = m[k].get<double>();
  }
  for (const auto& want : models)
    if (!runs.count(want)) {
      std::cerr << "error: " << log_path << ": no " << dataset << " epoch records of model " << want << "\n";
      return 2;
    }
  if (runs.empty()) {
    std::cerr << "error: " << log_path << ": no mamba_train epoch records for dataset " << dataset << "\n";
    return 2;
  }

  // seeds present for every model
  std::set<int64_t> all_seeds;
  for (auto& [model, seeds] : runs)
    for (auto& [s, _] : seeds) all_seeds.insert(s);
  int64_t missing = 0;
  std::ostringstream miss;
  size_t seeds_min = SIZE_MAX, seeds_max = 0;
  for (auto& [model, seeds] : runs) {
    seeds_min = std::min(seeds_min, seeds.size());
    seeds_max = std::max(seeds_max, seeds.size());
    for (int64_t s : all_seeds)
      if (!seeds.count(s)) {
        ++missing;
        miss << " " << model << "/seed " << s;
      }
  }
  if (missing > 0) {
    if (require_all) {
      std::cerr << "error: --require-all-models: missing runs:" << miss.str() << " (seeds in the log: " << all_seeds.size()
                << ")\n";
      return 2;
    }
    std::cerr << "warning: missing runs:" << miss.str() << "\n";
  }

  json result{{"dataset", dataset}, {"n_models", runs.size()}, {"seeds_min", seeds_min}, {"seeds_max", seeds_max},
              {"missing_runs", missing}};
  std::ostringstream summary;
  summary << dataset << ": " << runs.size() << " models, " << seeds_min << "-" << seeds_max << " seeds";
  std::cout << std::left << std::setw(22) << "model" << std::setw(8) << "metric" << " seeds  final mean +- std  [min, max]\n";
  for (const auto& metric : metrics) {
    ssmlab::plot::PlotSpec spec;
    spec.title = dataset + ": " + metric + " over seeds (mean ± std band, min/max dashed)";
    spec.xlabel = "epoch";
    spec.ylabel = metric;
    spec.logy = metric == "val_ppl" && !linear_y;
    spec.output = (fs::path(out_dir) / ("variance_" + dataset + "_" + metric + ".png")).string();
    for (auto& [model, seeds] : runs) {
      std::map<double, std::vector<double>> at;  // epoch -> values over seeds
      for (auto& [s, per_metric] : seeds) {
        auto it = per_metric.find(metric);
        if (it == per_metric.end()) continue;
        for (auto& [e, v] : it->second) at[e].push_back(v);
      }
      if (at.empty()) continue;
      // one colour per model: the mean ± std band solid, its min and max dashed in the same colour
      const int color = static_cast<int>(spec.series.size() / 3) + 1;
      ssmlab::plot::Series band{model + " mean ± std", {}, {}, {}, ssmlab::plot::Style::Band};
      ssmlab::plot::Series lo{model + " min / max", {}, {}, {}, ssmlab::plot::Style::Lines};
      ssmlab::plot::Series hi{"", {}, {}, {}, ssmlab::plot::Style::Lines};
      band.color = lo.color = hi.color = color;
      lo.dashed = hi.dashed = true;
      for (auto& [e, v] : at) {
        band.x.push_back(e), band.y.push_back(ssmlab::stats::mean(v));
        band.err.push_back(v.size() > 1 ? ssmlab::stats::sample_std(v) : 0.0);
        lo.x.push_back(e), lo.y.push_back(*std::min_element(v.begin(), v.end()));
        hi.x.push_back(e), hi.y.push_back(*std::max_element(v.begin(), v.end()));
      }
      const auto& last = at.rbegin()->second;
      const double mu = band.y.back(), sd = band.err.back();
      std::cout << std::left << std::setw(22) << model << std::setw(8) << metric << " " << std::setw(5) << last.size() << "  "
                << std::setprecision(5) << mu << " +- " << sd << "  [" << lo.y.back() << ", " << hi.y.back() << "]\n";
      result["final_" + metric][model] = {{"mean", mu}, {"std", sd}, {"n", last.size()}, {"epoch", at.rbegin()->first}};
      summary << "; " << model << " " << metric << " " << mu << " +- " << sd;
      spec.series.push_back(band);
      spec.series.push_back(lo);
      spec.series.push_back(hi);
    }
    if (spec.series.empty()) {
      std::cerr << "warning: no " << metric << " values for " << dataset << "; no plot\n";
      continue;
    }
    if (!ssmlab::plot::gnuplot_available()) {  // like plot_runs: the script, a warning, no failure
      ssmlab::write_file_atomic(spec.output + ".gp", ssmlab::plot::gnuplot_script(spec));
      std::cerr << "warning: gnuplot is not installed: " << spec.output << " not drawn (script " << spec.output << ".gp)\n";
      continue;
    }
    try {
      ssmlab::plot::render_plot(spec);
      std::cout << "wrote " << spec.output << "\n";
      result["plots"].push_back(spec.output);
    } catch (const std::exception& e) {
      std::cerr << "error: " << spec.output << ": " << e.what() << "\n";
      return 1;
    }
  }
  ssmlab::RunLog run(opts, "plot_variance_bands");
  run.write(result, summary.str(), missing == 0 || !require_all);
  return 0;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
