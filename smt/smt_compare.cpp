// smt_compare — every smt_train run under --results: a table (best validation perplexity, parameters,
// training time, tokens/s) and validation-perplexity curves side by side (compare_runs.png). Reads
// results.json and metrics_history.json only. docs/smt.md.
//
//   smt_compare --results outputs/results            (all experiments)
//   smt_compare --results outputs/results/wikitext2_smt
#include "ssmlab/main_guard.h"

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "smt/results.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/plot.h"

namespace fs = std::filesystem;
namespace plot = ssmlab::plot;
using nlohmann::json;

static int ssmlab_main(int argc, char** argv) {
  ssmlab::Cli cli("smt_compare", "Compares every smt_train run folder under --results: a table on stdout (and\n"
                                 "<results>/comparison.md) and validation perplexity over tokens (<results>/compare_runs.png).",
                  "smt", "smt.jsonl");
  std::string root;
  cli.add("results", &root, "a folder holding run folders (searched recursively)");
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
  if (root.empty()) return std::cerr << "error: --results is required\n", 2;
  std::vector<std::string> runs;
  try {
    runs = ssmlab::smt::find_runs(root);
  } catch (const std::exception& e) {
    return std::cerr << "error: " << e.what() << "\n", 2;
  }
  std::ostringstream table;
  table << "| run | arch | status | best val ppl | final val ppl | params | time [s] | tokens/s |\n"
        << "|---|---|---|---:|---:|---:|---:|---:|\n";
  plot::PlotSpec spec;
  spec.title = "validation perplexity";
  spec.xlabel = "training tokens";
  spec.ylabel = "validation perplexity";
  spec.logy = true;
  spec.output = (fs::path(root) / "compare_runs.png").string();
  int64_t n_ok = 0;
  for (const auto& dir : runs) {
    json r, h;
    try {
      r = ssmlab::smt::read_results(dir);
      h = ssmlab::smt::read_history(dir);
    } catch (const std::exception& e) {
      std::cerr << "warning: skipped " << dir << ": " << e.what() << "\n";
      continue;
    }
    const json res = r.value("results", json::object());
    auto fmt = [](const json& v, int prec) {
      if (!v.is_number()) return std::string("-");
      std::ostringstream os;
      os << std::fixed << std::setprecision(prec) << v.get<double>();
      return os.str();
    };
    const std::string name = fs::relative(dir, root).string() == "." ? fs::path(dir).filename().string() : fs::relative(dir, root).string();
    const json last = h.empty() ? json::object() : h.back();
    table << "| " << name << " | " << r.value("model", json::object()).value("arch", std::string("?")) << " | "
          << r.value("status", std::string("?")) << " | " << fmt(res.value("best_val_ppl", json()), 2) << " | "
          << fmt(res.value("final_val_ppl", json()), 2) << " | "
          << r.value("param_counts", json::object()).value("total", int64_t{0}) << " | " << fmt(r.value("training_time_s", json()), 1)
          << " | " << fmt(last.value("tokens_per_s", json()), 0) << " |\n";
    plot::Series s{name};
    for (const auto& p : h)
      if (p.contains("val_ppl") && p["val_ppl"].is_number() && std::isfinite(p["val_ppl"].get<double>()) && p["val_ppl"].get<double>() > 0)
        s.x.push_back(p.value("tokens", 0.0)), s.y.push_back(p["val_ppl"]);
    if (!s.x.empty()) spec.series.push_back(s);
    ++n_ok;
  }
  std::cout << table.str();
  ssmlab::write_file_atomic((fs::path(root) / "comparison.md").string(), "# smt_compare " + root + "\n\n" + table.str());
  bool drawn = false;
  if (!spec.series.empty()) {
    try {
      plot::render_plot(spec);
      drawn = true;
    } catch (const std::exception& e) {
      std::cerr << "warning: " << e.what() << " (compare_runs.png not drawn)\n";
    }
  }
  ssmlab::RunLog run(opts, "smt_compare");
  run.write({{"runs", n_ok}, {"drawn", drawn}}, "compared " + std::to_string(n_ok) + " runs under " + root, n_ok > 0);
  return n_ok > 0 ? 0 : 1;
}

int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
