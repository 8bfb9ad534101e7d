// common.cpp — logging and main() helpers shared by the duality binaries.
#include <iostream>
#include <stdexcept>

#include "duality/experiments.h"
#include "ssmlab/jsonl_log.h"

namespace ssmlab::duality {

void log_result(const CommonOptions& opts, const ExperimentResult& r, const nlohmann::json& params) {
  CommonOptions o = opts;
  if (params.contains("seed") && params["seed"].is_number_unsigned()) o.seed = params["seed"].get<std::uint64_t>();
  for (auto& [k, v] : params.items()) o.params[k] = v;
  RunLog run(o, r.name);
  nlohmann::json metrics = r.metrics;
  // per-case rows, then per-point rows of the figures, each one record
  for (const auto& [key, kind] : {std::pair{"cases", "eval"}, std::pair{"points", "point"}}) {
    if (!metrics.contains(key)) continue;
    for (const auto& c : metrics[key]) {
      nlohmann::json m = c;
      bool ok = m.value("ok", true);
      m.erase("ok");
      std::string summary = m.value("summary", std::string(kind == std::string("eval") ? "case" : "point"));
      m.erase("summary");
      run.write(m, summary, ok, kind);
    }
    metrics.erase(key);
  }
  run.write(metrics, r.details, r.ok, "result");
}

int guarded_main(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

std::vector<double> spaced_decays(int N) {
  if (N < 1) throw std::invalid_argument("spaced_decays: N must be >= 1");
  if (N == 1) return {0.8};
  std::vector<double> a(N);
  for (int m = 0; m < N; ++m) a[m] = 0.3 + (0.95 - 0.3) * m / (N - 1);
  return a;
}

}  // namespace ssmlab::duality
