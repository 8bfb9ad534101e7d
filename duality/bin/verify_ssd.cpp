// verify_ssd — runs every duality experiment (the rows of duality/table.h) once with its defaults and
// prints a pass/fail table with each row's key metric.
#include "ssmlab/main_guard.h"
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "duality/table.h"
#include "ssmlab/runtime.h"
#include "ssmlab/timer.h"

namespace d = ssmlab::duality;

static int ssmlab_main(int argc, char** argv) {
  ssmlab::Cli cli("verify_ssd",
                  "Runs every duality experiment (exp1 ... exp6) once with its defaults, logs each result and\n"
                  "prints a pass/fail table. Exit status 1 if any experiment fails its own check.",
                  "duality", "duality.jsonl");
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);
  return d::guarded_main([&] {
    std::vector<std::string> lines;
    int failed = 0;
    for (const auto& e : d::experiments()) {
      const auto defaults = e.make();
      ssmlab::Stopwatch sw;
      ssmlab::ExperimentResult r;
      try {
        r = defaults->run();
      } catch (const std::exception& ex) {
        r.name = "?";
        r.ok = false;
        r.details = ex.what();
      }
      const double dt = sw.seconds();
      if (r.name != "?") d::log_result(opts, r, defaults->to_json());
      failed += r.ok ? 0 : 1;
      char buf[512];
      std::string key = "-";
      if (r.metrics.contains(e.key_metric) && r.metrics[e.key_metric].is_number()) {
        char v[32];
        std::snprintf(v, sizeof v, "%.3g", r.metrics[e.key_metric].get<double>());
        key = v;
      }
      std::snprintf(buf, sizeof buf, "| %-30s | %-36s | %-12s | %-4s | %6.2f s |", r.name.c_str(), e.key_metric.c_str(),
                    key.substr(0, 12).c_str(), r.ok ? "PASS" : "FAIL", dt);
      lines.push_back(buf);
    }
    std::printf("\n| %-30s | %-36s | %-12s | %-4s | %8s |\n", "experiment", "key metric", "value", "ok", "time");
    std::printf("|%s|%s|%s|%s|%s|\n", std::string(32, '-').c_str(), std::string(38, '-').c_str(),
                std::string(14, '-').c_str(), std::string(6, '-').c_str(), std::string(10, '-').c_str());
    for (auto& l : lines) std::printf("%s\n", l.c_str());
    std::printf("\nverify_ssd: %d/%zu experiments passed\n", static_cast<int>(d::experiments().size()) - failed,
                d::experiments().size());
    return failed == 0 ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
