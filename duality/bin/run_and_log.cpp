// run_and_log — the batch runner: one experiment (or all) R times, every run appended to the JSONL
// log. Every experiment's flags come from its row in duality/table.h, prefixed with its name
// (--exp3-T-values, --exp4-end-to-end, ...); a run writes the same records as the experiment's own
// binary given the same flags.
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "duality/table.h"
#include "ssmlab/runtime.h"
#include "ssmlab/main_guard.h"

namespace d = ssmlab::duality;

namespace {

// Spellings from before the flags came from the table; they keep working, with a warning.
// --NAME-plot and --NAME-plot-path are refused with the plot_logs command that replaced them.
std::vector<std::string> with_current_spellings(int argc, char** argv) {
  static const std::vector<std::pair<std::string, std::string>> kRenamed = {
      {"--exp3-t-list", "--exp3-T-values"},
      {"--exp4-t-list", "--exp4-T-values"},
      {"--exp5-t-list", "--exp5-T-values"},
      {"--exp6-t-list", "--exp6-T-values"}};
  std::vector<std::string> args(argv, argv + argc);
  for (const auto& a : args)  // --NAME-plot [--NAME-plot-path P] went with the in-memory figures
    for (const auto& e : d::experiments())
      if (a == "--" + e.name + "-plot" || a.rfind("--" + e.name + "-plot-path", 0) == 0)
        throw ssmlab::UsageError(a + ": " + d::plot_moved());
  for (auto& a : args)
    for (const auto& [old_flag, flag] : kRenamed)
      if (a == old_flag || a.rfind(old_flag + "=", 0) == 0) {
        std::cerr << "warning: " << old_flag << " is deprecated; use " << flag << "\n";
        a = flag + a.substr(old_flag.size());
      }
  return args;
}

bool given(const std::vector<std::string>& args, const std::string& flag) {
  for (const auto& a : args)
    if (a == flag || a.rfind(flag + "=", 0) == 0) return true;
  return false;
}

// One table row as run_and_log sees it: its parameters (bound to --NAME-* flags).
struct Row {
  const d::Experiment* experiment;
  std::unique_ptr<d::Configured> params;
};

// The row's flag values under their bare names (what its binary would log), from run_and_log's.
nlohmann::json flag_params(const ssmlab::CommonOptions& opts, const std::string& prefix,
                           const std::set<std::string>& not_the_experiments) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : opts.params.items())
    if (k.rfind(prefix, 0) == 0 && !not_the_experiments.count(k)) out[k.substr(prefix.size())] = v;
  out["seed"] = opts.params["seed"];
  out["threads"] = opts.params["threads"];
  return out;
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  std::vector<std::string> args = with_current_spellings(argc, argv);
  std::string experiment = "all";
  int repeats = 1;
  std::vector<int> exp2_n;
  std::vector<std::string> names{"all"};
  for (const auto& e : d::experiments()) names.push_back(e.name);
  std::string list;
  for (size_t i = 1; i < names.size(); ++i) list += names[i] + " ";
  ssmlab::Cli cli("run_and_log",
                  "Runs --experiment NAME (" + list + "or all)\n"
                  "--repeats times (repeat r uses the experiment's default seed + --seed + r) and appends every run\n"
                  "to the log. Each experiment's flags are its binary's, prefixed with its name\n"
                  "(exp3_rank_vs_state_dim --T-values is --exp3-T-values here), and a run writes the records its\n"
                  "binary would. exp2b runs both --mode values unless --exp2b-mode picks one.",
                  "duality", "duality.jsonl");
  cli.add("experiment", &experiment, "which experiment").one_of(names);
  cli.add("repeats", &repeats, "runs per experiment").at_least(1);
  cli.add("exp2-n-list", &exp2_n, "exp2: one run per state size N, with N well-spaced decays (replaces --exp2-decays)")
      .sorted()
      .at_least(1);
  std::set<std::string> not_the_experiments{"exp2-n-list"};
  std::vector<Row> rows;
  rows.reserve(d::experiments().size());  // the Cli keeps pointers into the rows
  for (const auto& e : d::experiments()) {
    rows.push_back({&e, e.make()});
    Row& row = rows.back();
    row.params->add_flags(cli, e.name + "-");
  }
  std::vector<char*> argv2;
  for (auto& a : args) argv2.push_back(a.data());
  const auto opts = cli.parse_or_exit(static_cast<int>(argv2.size()), argv2.data());
  ssmlab::init_runtime(opts);
  const bool exp2b_both_modes = !given(args, "--exp2b-mode");

  return d::guarded_main([&] {
    if (opts.plot) throw std::invalid_argument(d::plot_moved());
    int failed = 0, runs = 0;
    for (int rep = 0; rep < repeats; ++rep) {
      const std::uint64_t off = opts.seed + static_cast<std::uint64_t>(rep);
      for (Row& row : rows) {
        const d::Experiment& e = *row.experiment;
        if (experiment != "all" && experiment != e.name) continue;
        // the runs of this row: one, or one per exp2 N / exp2b mode
        std::vector<std::unique_ptr<d::Configured>> batch;
        auto add_run = [&] {
          batch.push_back(row.params->clone());
          batch.back()->seed() += off;
          return batch.back().get();
        };
        if (auto* p = d::params_of<d::exp2::Params>(*row.params); p && !exp2_n.empty()) {
          for (int n : exp2_n) d::params_of<d::exp2::Params>(*add_run())->decays = d::spaced_decays(n);
        } else if (d::params_of<d::exp2b::Params>(*row.params) && exp2b_both_modes) {
          for (const char* mode : {"random", "selective"}) d::params_of<d::exp2b::Params>(*add_run())->mode = mode;
        } else {
          add_run();
        }
        const nlohmann::json flags = flag_params(opts, e.name + "-", not_the_experiments);
        for (const auto& c : batch) {
          const ssmlab::ExperimentResult r = d::run_and_record(opts, flags, *c);
          failed += r.ok ? 0 : 1;
          ++runs;
        }
      }
    }
    std::cout << "run_and_log: " << runs - failed << "/" << runs << " runs passed; log: "
              << (opts.log_path.empty() ? std::string("(none)") : opts.log_path) << "\n";
    return failed == 0 ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
