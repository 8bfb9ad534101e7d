// experiments.h — the duality experiments as in-process functions: Params in, ExperimentResult out.
//
// Design: each experiment is a namespace with a Params struct (defaults = the binary's
// defaults), to_json() (logged as the record's params), add_flags() (its flags, declared once:
// the binary uses them bare, run_and_log with the prefix "<name>-") and run(). The table in
// duality/table.h lists them; binaries, verify_ssd and run_and_log all call the same run(). Per-case rows (one T, one seed, ...) go into
// metrics["cases"], the points of a figure that no case row holds (exp4's fitted lines, exp6's
// time per method) into metrics["points"]; log_result() writes them as "eval" and "point" records
// and the rest as the "result" record. The figures are drawn from the log by
// plot_logs --spec duality/plots.json. run() throws std::invalid_argument for bad parameters
// (binaries turn it into exit 2).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ssmlab/cli.h"
#include "ssmlab/experiment.h"

namespace ssmlab::duality {

// ---- exp1: scalar SSM ≡ 1-semiseparable attention -----------------------------------------
namespace exp1 {
struct Params {
  int T = 32;
  double a = 0.9;
  std::uint64_t seed = 1;
  nlohmann::json to_json() const;
};
// Declares the flags --<prefix><name> bound to *p (defaults: *p's values); the common --seed is not one.
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp1

// ---- exp2: diagonal SSM ≡ sum of N 1-SS heads; Vandermonde generator rank -----------------
namespace exp2 {
struct Params {
  int T = 40;
  std::vector<double> decays{0.5, 0.8};
  std::uint64_t seed = 2;
  double rank_tol = 0.0;  // 0: default σ_max·max(m,n)·ε
  nlohmann::json to_json() const;
};
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp2

// ---- exp2b: time-varying diagonal SSM (random or selective/Mamba parameterisation) --------
namespace exp2b {
struct Params {
  int T = 16;
  int N = 4;
  std::uint64_t seed = 3;
  std::string mode = "random";  // random: A_t ~ U(-1,1); selective: A_t = exp(Δ_t A), B̄_t = Δ_t B_t
  nlohmann::json to_json() const;
};
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp2b

// ---- exp3: generator rank vs semiseparable rank of the kernel -------------------------------
namespace exp3 {
struct Params {
  std::vector<int> T_values{15, 30};
  std::vector<int> seeds{0, 1};
  int random_n = 0;       // extra random decay configurations per (T, seed)
  double rank_tol = 0.0;  // 0: default
  std::uint64_t seed = 0; // for the random configurations
  nlohmann::json to_json() const;
};
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp3

// ---- exp3b: semiseparable rank vs N (well-spaced decays), mean ± std over seeds ------------
namespace exp3b {
struct Params {
  std::vector<int> N_values{1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<int> seeds{0, 1, 2, 3, 4};
  int T = 48;
  double rank_tol = 0.0;
  std::uint64_t seed = 0;
  nlohmann::json to_json() const;
};
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp3b

// ---- exp4: O(T) recurrence vs O(T²) kernel, wall time --------------------------------------
// metrics["points"]: one per T, the fitted lines exp(intercept) T^exponent: {T, t_rec_fit_s, t_kernel_fit_s} [s].
namespace exp4 {
struct Params {
  std::vector<int> T_values{300, 600, 1200};
  int N = 16;
  int repeats = 7;        // timed samples per T (fastest fitted, median logged)
  int warmups = 2;
  double min_sample_s = 2e-3;  // each sample loops the call until it lasts this long
  bool end_to_end = false;     // include kernel construction in the kernel time
  std::uint64_t seed = 0;
  nlohmann::json to_json() const;
};
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp4

// ---- exp4b: exp4 over random trials, mean ± 95% CI -------------------------------------------
namespace exp4b {
struct Params {
  std::vector<int> T_values{250, 500, 1000, 2000};
  int N = 16;
  int n_trials = 8;
  int n_repeats = 5;
  double min_sample_s = 1e-3;
  bool end_to_end = false;
  std::uint64_t seed = 0;
  nlohmann::json to_json() const;
};
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp4b

// ---- exp5: softmax attention rank grows with T ----------------------------------------------
namespace exp5 {
struct Params {
  std::vector<int> T_values{80, 160, 320};
  int d_k = 16;
  int N = 4;              // the SSM shown for contrast
  double rank_tol = 0.0;
  std::uint64_t seed = 0;
  nlohmann::json to_json() const;
};
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp5

// ---- exp5b: exp5 over seeds, mean ± std, and the rank gap -----------------------------------
namespace exp5b {
struct Params {
  std::vector<int> T_values{32, 64, 128, 256};
  std::vector<int> seeds{0, 1, 2, 3, 4};
  int d_k = 16;
  int N = 4;
  double rank_tol = 0.0;
  std::uint64_t seed = 0;
  nlohmann::json to_json() const;
};
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp5b

// ---- exp6: chunked SSD (Mamba-2 block decomposition) ----------------------------------------
// metrics["points"]: one per (T, method), {T, method, t_s [s]} (+ Q for the chunked SSD), method one of
// "recurrence", "chunked SSD, Q = <Q>", "full T×T kernel, built + multiplied" (T <= max_T_full).
namespace exp6 {
struct Params {
  std::vector<int> T_values{256, 512, 1024, 2048};
  std::vector<int> chunks{16, 64, 100};  // 100 does not divide the default T values
  int N = 16;
  int repeats = 5;
  double min_sample_s = 2e-3;
  int max_T_full = 2048;  // the O(T²N) full kernel is timed and compared only up to this T
  std::uint64_t seed = 0;
  nlohmann::json to_json() const;
};
void add_flags(Cli& cli, Params* p, const std::string& prefix = "");
ExperimentResult run(const Params& p);
}  // namespace exp6

// ---- shared helpers --------------------------------------------------------------------

// Writes r.metrics["cases"] and r.metrics["points"] (if any) as "eval" and "point" records, then
// the rest as the "result" record.
// `params` (the experiment's to_json()) is merged into the record's params; its "seed" becomes
// the record's seed.
void log_result(const CommonOptions& opts, const ExperimentResult& r, const nlohmann::json& params);

// Runs body(); std::invalid_argument → "error: ..." and 2, other exceptions → "error: ..." and 1.
int guarded_main(const std::function<int()>& body);

// N well-spaced decays in [0.3, 0.95] (N = 1: 0.8), deterministic.
std::vector<double> spaced_decays(int N);

}  // namespace ssmlab::duality
