// run_and_log — the batch runner: one experiment (or all) R times over the given grids, every run
// appended to the JSONL log.
#include "ssmlab/main_guard.h"
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "duality/experiments.h"

namespace d = ssmlab::duality;

static int ssmlab_main(int argc, char** argv) {
  std::string experiment = "all";
  int repeats = 1;
  std::vector<int> exp2_n, exp3_t, exp3_seeds, exp4_t, exp5_t, exp6_t;
  int exp3_random_n = 0;
  bool exp4_plot = false, exp4_e2e = false;
  std::string exp4_plot_path;
  ssmlab::Cli cli("run_and_log",
                  "Runs --experiment NAME (exp1 exp2 exp2b exp3 exp3b exp4 exp4b exp5 exp5b exp6, or all) --repeats\n"
                  "times (repeat r uses the experiment's default seed + --seed + r) and appends every run to the log.\n"
                  "Grid flags replace an experiment's defaults.",
                  "duality", "duality.jsonl");
  cli.add("experiment", &experiment, "which experiment")
      .one_of({"all", "exp1", "exp2", "exp2b", "exp3", "exp3b", "exp4", "exp4b", "exp5", "exp5b", "exp6"});
  cli.add("repeats", &repeats, "runs per experiment").at_least(1);
  cli.add("exp2-n-list", &exp2_n, "exp2: state sizes N (well-spaced decays; default: decays 0.5 0.8)").sorted().at_least(1);
  cli.add("exp3-t-list", &exp3_t, "exp3: sequence lengths [steps]").sorted().at_least(1);
  cli.add("exp3-seeds", &exp3_seeds, "exp3: seeds");
  cli.add("exp3-random-n", &exp3_random_n, "exp3: random decay configurations").at_least(0);
  cli.add("exp4-t-list", &exp4_t, "exp4: sequence lengths [steps]").sorted().at_least(1);
  cli.flag("exp4-end-to-end", &exp4_e2e, "exp4: include kernel construction");
  cli.flag("exp4-plot", &exp4_plot, "exp4: draw the time-scaling plot (last repeat)");
  cli.add("exp4-plot-path", &exp4_plot_path, "exp4: plot file (default <out>/plots/exp4_time_scaling.png)");
  cli.add("exp5-t-list", &exp5_t, "exp5: sequence lengths [tokens]").sorted().at_least(1);
  cli.add("exp6-t-list", &exp6_t, "exp6: sequence lengths [steps]").sorted().at_least(1);
  auto opts = cli.parse_or_exit(argc, argv);
  auto want = [&](const std::string& k) { return experiment == "all" || experiment == k; };
  return d::guarded_main([&] {
    int failed = 0, runs = 0;
    auto done = [&](const ssmlab::ExperimentResult& r, const nlohmann::json& params) {
      d::log_result(opts, r, params);
      failed += r.ok ? 0 : 1;
      ++runs;
    };
    for (int rep = 0; rep < repeats; ++rep) {
      const std::uint64_t off = opts.seed + static_cast<std::uint64_t>(rep);
      if (want("exp1")) {
        d::exp1::Params p;
        p.seed += off;
        done(d::exp1::run(p), p.to_json());
      }
      if (want("exp2")) {
        std::vector<std::vector<double>> sets;
        if (exp2_n.empty()) sets.push_back(d::exp2::Params{}.decays);
        for (int n : exp2_n) sets.push_back(d::spaced_decays(n));
        for (auto& s : sets) {
          d::exp2::Params p;
          p.decays = s;
          p.seed += off;
          done(d::exp2::run(p), p.to_json());
        }
      }
      if (want("exp2b")) {
        for (std::string mode : {"random", "selective"}) {
          d::exp2b::Params p;
          p.mode = mode;
          p.seed += off;
          done(d::exp2b::run(p), p.to_json());
        }
      }
      if (want("exp3")) {
        d::exp3::Params p;
        if (!exp3_t.empty()) p.T_values = exp3_t;
        if (!exp3_seeds.empty()) p.seeds = exp3_seeds;
        p.random_n = exp3_random_n;
        p.seed += off;
        done(d::exp3::run(p), p.to_json());
      }
      if (want("exp3b")) {
        d::exp3b::Params p;
        p.seed += off;
        done(d::exp3b::run(p), p.to_json());
      }
      if (want("exp4")) {
        d::exp4::Params p;
        if (!exp4_t.empty()) p.T_values = exp4_t;
        p.end_to_end = exp4_e2e;
        p.seed += off;
        auto r = d::exp4::run(p);
        done(r, p.to_json());
        if (exp4_plot && rep == repeats - 1) {
          std::string path = exp4_plot_path.empty() ? opts.out_dir + "/plots/exp4_time_scaling.png" : exp4_plot_path;
          d::try_render(d::exp4::plot(r, path));
        }
      }
      if (want("exp4b")) {
        d::exp4b::Params p;
        p.seed += off;
        done(d::exp4b::run(p), p.to_json());
      }
      if (want("exp5")) {
        d::exp5::Params p;
        if (!exp5_t.empty()) p.T_values = exp5_t;
        p.seed += off;
        done(d::exp5::run(p), p.to_json());
      }
      if (want("exp5b")) {
        d::exp5b::Params p;
        p.seed += off;
        done(d::exp5b::run(p), p.to_json());
      }
      if (want("exp6")) {
        d::exp6::Params p;
        if (!exp6_t.empty()) p.T_values = exp6_t;
        p.seed += off;
        done(d::exp6::run(p), p.to_json());
      }
    }
    std::cout << "run_and_log: " << runs - failed << "/" << runs << " runs passed; log: "
              << (opts.log_path.empty() ? std::string("(none)") : opts.log_path) << "\n";
    return failed == 0 ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
