// verify_ssd — runs every duality experiment once with its defaults and prints a pass/fail table.
#include "ssmlab/main_guard.h"
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "duality/experiments.h"
#include "ssmlab/timer.h"

namespace d = ssmlab::duality;

static int ssmlab_main(int argc, char** argv) {
  ssmlab::Cli cli("verify_ssd",
                  "Runs every duality experiment (exp1 ... exp6) once with its defaults, logs each result and\n"
                  "prints a pass/fail table. Exit status 1 if any experiment fails its own check.",
                  "duality", "duality.jsonl");
  auto opts = cli.parse_or_exit(argc, argv);
  struct Row {
    std::string key_metric;
    std::function<ssmlab::ExperimentResult(nlohmann::json&)> run;
  };
  // each lambda runs the experiment with its defaults and reports the params it used
  auto wrap = [](auto params, auto fn) {
    return [params, fn](nlohmann::json& out) { out = params.to_json(); return fn(params); };
  };
  std::vector<Row> rows = {
      {"max_rel_err", wrap(d::exp1::Params{}, d::exp1::run)},
      {"max_rel_err", wrap(d::exp2::Params{}, d::exp2::run)},
      {"max_rel_err", wrap(d::exp2b::Params{}, d::exp2b::run)},
      {"n_mismatch", wrap(d::exp3::Params{}, d::exp3::run)},
      {"n_rank_ne_N", wrap(d::exp3b::Params{}, d::exp3b::run)},
      {"kernel_exponent", wrap(d::exp4::Params{}, d::exp4::run)},
      {"kernel_exponent", wrap(d::exp4b::Params{}, d::exp4b::run)},
      {"softmax_semiseparable_rank_last", wrap(d::exp5::Params{}, d::exp5::run)},
      {"softmax_semiseparable_rank_mean_last", wrap(d::exp5b::Params{}, d::exp5b::run)},
      {"max_rel_err", wrap(d::exp6::Params{}, d::exp6::run)},
  };
  return d::guarded_main([&] {
    std::vector<std::string> lines;
    int failed = 0;
    for (auto& row : rows) {
      nlohmann::json params;
      ssmlab::Stopwatch sw;
      ssmlab::ExperimentResult r;
      try {
        r = row.run(params);
      } catch (const std::exception& e) {
        r.name = "?";
        r.ok = false;
        r.details = e.what();
      }
      const double dt = sw.seconds();
      if (r.name != "?") d::log_result(opts, r, params);
      failed += r.ok ? 0 : 1;
      char buf[512];
      std::string key = "-";
      if (r.metrics.contains(row.key_metric) && r.metrics[row.key_metric].is_number()) {
        char v[32];
        std::snprintf(v, sizeof v, "%.3g", r.metrics[row.key_metric].get<double>());
        key = v;
      }
      std::snprintf(buf, sizeof buf, "| %-30s | %-36s | %-12s | %-4s | %6.2f s |", r.name.c_str(), row.key_metric.c_str(),
                    key.substr(0, 12).c_str(), r.ok ? "PASS" : "FAIL", dt);
      lines.push_back(buf);
    }
    std::printf("\n| %-30s | %-36s | %-12s | %-4s | %8s |\n", "experiment", "key metric", "value", "ok", "time");
    std::printf("|%s|%s|%s|%s|%s|\n", std::string(32, '-').c_str(), std::string(38, '-').c_str(),
                std::string(14, '-').c_str(), std::string(6, '-').c_str(), std::string(10, '-').c_str());
    for (auto& l : lines) std::printf("%s\n", l.c_str());
    std::printf("\nverify_ssd: %d/%zu experiments passed\n", static_cast<int>(rows.size()) - failed, rows.size());
    return failed == 0 ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
