// smt_plot_results — the training and validation curves of one smt_train run folder
// (metrics_history.json only) -> <result-dir>/training_curves.png (+ .gp script). docs/smt.md.
//
//   smt_plot_results --result-dir outputs/results/wikitext2_smt/20250101_120000
#include "ssmlab/main_guard.h"

#include <cmath>
#include <filesystem>
#include <iostream>

#include "smt/results.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/plot.h"

namespace fs = std::filesystem;
namespace plot = ssmlab::plot;

static int ssmlab_main(int argc, char** argv) {
  ssmlab::Cli cli("smt_plot_results", "Draws train and validation loss (and validation perplexity) over steps of one smt_train\n"
                                      "run folder into <result-dir>/training_curves.png. Reads metrics_history.json only.",
                  "smt", "smt.jsonl");
  std::string dir;
  cli.add("result-dir", &dir, "an smt_train run folder");
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
  if (dir.empty()) return std::cerr << "error: --result-dir is required\n", 2;
  nlohmann::json hist;
  try {
    hist = ssmlab::smt::read_history(dir);
  } catch (const std::exception& e) {
    return std::cerr << "error: " << e.what() << "\n", 2;
  }
  plot::Series train{"train loss"}, val{"validation loss"};
  for (const auto& h : hist) {
    const double step = h.value("step", 0.0);
    if (h.contains("train_loss") && h["train_loss"].is_number()) train.x.push_back(step), train.y.push_back(h["train_loss"]);
    if (h.contains("val_loss") && h["val_loss"].is_number()) val.x.push_back(step), val.y.push_back(h["val_loss"]);
  }
  plot::PlotSpec spec;
  spec.title = "SMT training curves: " + fs::path(dir).lexically_normal().string();
  spec.xlabel = "optimizer step";
  spec.ylabel = "cross-entropy [nats/token]  (val ppl = exp)";
  spec.output = (fs::path(dir) / "training_curves.png").string();
  if (!train.x.empty()) spec.series.push_back(train);
  if (!val.x.empty()) spec.series.push_back(val);
  bool drawn = false;
  try {
    plot::render_plot(spec);
    drawn = true;
  } catch (const std::exception& e) {
    std::cerr << "warning: " << e.what() << " (training_curves.png not drawn)\n";
  }
  ssmlab::RunLog run(opts, "smt_plot_results");
  run.write({{"points", static_cast<int64_t>(hist.size())}, {"drawn", drawn}, {"png", spec.output}},
            (drawn ? "drew " : "could not draw ") + spec.output, !hist.empty());
  std::cout << spec.output << "\n";
  return hist.empty() ? 1 : 0;
}

int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
