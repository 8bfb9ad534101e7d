// exp_rank.cpp — exp3, exp3b (SSM kernels have semiseparable rank N) and exp5, exp5b (softmax
// attention does not).
#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "duality/experiments.h"
#include "duality/rank.h"
#include "ssmlab/progress_meter.h"

#include <limits>
#include "duality/recurrence.h"
#include "duality/softmax.h"
#include "duality/src/internal.h"
#include "ssmlab/stats.h"

namespace ssmlab::duality {

using detail::fmt;

namespace {
void check_T_values(const std::vector<int>& Ts, const char* flag) {
  if (Ts.empty()) throw std::invalid_argument(std::string(flag) + " must not be empty");
  for (size_t i = 0; i < Ts.size(); ++i) {
    if (Ts[i] < 1) throw std::invalid_argument(std::string(flag) + " values must all be >= 1 (got " + std::to_string(Ts[i]) + ")");
    if (i && Ts[i] <= Ts[i - 1]) throw std::invalid_argument(std::string(flag) + " values must be strictly increasing");
  }
}

// Work units of the rank sweeps for the ETA: the semiseparable rank takes up to ~T SVDs of
// blocks of ~T/2 x T/2, O(T^3) each, so a case costs ~T^4.
double work_units(int T) { return static_cast<double>(T) * T * T * T; }
double work_units_sum(const std::vector<int>& Ts) {
  double s = 0;
  for (int T : Ts) s += work_units(T);
  return s;
}

struct SsmRanks {
  int generator_rank, semiseparable_rank, full_rank;
};
// Ranks of the diagonal SSM with decays a and random B, C (seeded) at length T.
SsmRanks ssm_ranks(const std::vector<double>& decays, int T, detail::Rng& rng, double tol) {
  const Index N = static_cast<Index>(decays.size());
  VectorXd a = detail::to_eigen(decays), B = detail::randn(rng, N), C = detail::randn(rng, N), k(T), pbuf(N);
  MatrixXd M(T, T), V(T, N);  // kernel (T×T), Vandermonde generator (T×N)
  diagonal_kernel(a, B, C, M, k, pbuf);
  V.row(0).setOnes();
  for (Index t = 1; t < T; ++t) V.row(t) = V.row(t - 1).cwiseProduct(a.transpose());
  // The kernel's rank threshold. Entry (t, s) is sum_n C_n B_n a_n^(t-s), computed with a rounding
  // error of up to ~(N + T) eps times sum_n |C_n B_n| |a_n|^(t-s): relative to the terms, not to
  // their sum. With repeated decays the terms of one decay merge into a single exponential whose
  // coefficient sum_n C_n B_n can be much smaller than sum_n |C_n B_n| (partial cancellation, ~2 %
  // of random B, C): the noise is then far above sigma_max(block) max(m, n) eps, and the default
  // threshold counted it as a second rank (exp3, --T-values 15 30 --seeds 86: all-equal decays gave
  // semiseparable rank 2). The threshold used instead bounds the noise's norm: ||M_abs||_F (N + T) eps,
  // M_abs being the kernel of |a|, |B|, |C|; it is no larger than the default when nothing cancels.
  double kernel_tol = tol;
  if (kernel_tol <= 0.0) {
    MatrixXd Mabs(T, T);
    VectorXd kabs(T), pabs(N);
    diagonal_kernel(a.cwiseAbs(), B.cwiseAbs(), C.cwiseAbs(), Mabs, kabs, pabs);
    kernel_tol = Mabs.norm() * static_cast<double>(N + T) * std::numeric_limits<double>::epsilon();
  }
  return {numerical_rank(V, tol), semiseparable_rank(M, kernel_tol), numerical_rank(M, kernel_tol)};
}

struct SoftmaxRanks {
  int causal_full, causal_ss, noncausal_full, ssm_ss;
};
// with_ssm = false skips the SSM contrast (ssm_ss = -1): its semiseparable rank needs ~T SVDs.
SoftmaxRanks softmax_ranks(int T, int d_k, int N, std::uint64_t seed, double tol, bool with_ssm = true) {
  detail::Rng rng(seed * 1000003ULL + static_cast<std::uint64_t>(T));
  MatrixXd Qm = detail::randn(rng, T, d_k), Km = detail::randn(rng, T, d_k), S(T, T);  // (T×d_k), (T×T)
  SoftmaxRanks r{};
  causal_softmax_attention(Qm, Km, S);
  r.causal_full = numerical_rank(S, tol);
  r.causal_ss = semiseparable_rank(S, tol);
  softmax_attention(Qm, Km, S);
  r.noncausal_full = numerical_rank(S, tol);
  r.ssm_ss = with_ssm ? ssm_ranks(spaced_decays(N), T, rng, tol).semiseparable_rank : -1;
  return r;
}
}  // namespace

// ---- exp3 ---------------------------------------------------------------------------------
nlohmann::json exp3::Params::to_json() const {
  return {{"T_values", T_values}, {"seeds", seeds}, {"random_n", random_n}, {"rank_tol", rank_tol}, {"seed", seed}};
}

void exp3::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  cli.add(prefix + "T-values", &p->T_values, "sequence lengths [steps], increasing").nonempty().sorted().at_least(1);
  cli.add(prefix + "seeds", &p->seeds, "seeds for B, C (one case per seed)").nonempty();
  cli.add(prefix + "random-n", &p->random_n, "extra random decay configurations").at_least(0);
  cli.add(prefix + "rank-tol", &p->rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
}

ExperimentResult exp3::run(const Params& p) {
  check_T_values(p.T_values, "--T-values");
  if (p.seeds.empty()) throw std::invalid_argument("--seeds must not be empty");
  if (p.random_n < 0) throw std::invalid_argument("--random-n must be >= 0");
  // hand-crafted decay sets: distinct, repeated, signed, and a zero decay (a pure skip: no
  // contribution below the diagonal, so it adds to the generator rank but not the semiseparable rank)
  std::vector<std::pair<std::string, std::vector<double>>> sets = {
      {"single", {0.9}},           {"distinct2", {0.5, 0.8}},     {"distinct4", {0.2, 0.5, 0.8, 0.95}},
      {"repeated", {0.5, 0.5, 0.9}}, {"all_same", {0.6, 0.6, 0.6, 0.6}}, {"signed", {-0.7, 0.3, 0.7}},
      {"with_zero", {0.0, 0.6}}};
  detail::Rng cfg_rng(p.seed);
  for (int i = 0; i < p.random_n; ++i) {
    // N in [1, 6] with n_distinct in [1, N] decays from the grid ±{0.2, ..., 0.9} (spacing 0.1), rest repeats
    std::vector<double> grid;
    for (int g = 2; g <= 9; ++g) grid.insert(grid.end(), {g / 10.0, -g / 10.0});
    std::shuffle(grid.begin(), grid.end(), cfg_rng);
    const int N = std::uniform_int_distribution<int>(1, 6)(cfg_rng);
    const int nd = std::uniform_int_distribution<int>(1, N)(cfg_rng);
    std::vector<double> d(grid.begin(), grid.begin() + nd);
    while (static_cast<int>(d.size()) < N) d.push_back(d[std::uniform_int_distribution<int>(0, nd - 1)(cfg_rng)]);
    sets.push_back({"random" + std::to_string(i), d});
  }
  nlohmann::json cases = nlohmann::json::array();
  int mismatches = 0, max_diff = 0;
  ProgressMeter meter("exp3_rank_vs_state_dim", work_units_sum(p.T_values) * static_cast<double>(p.seeds.size()));
  double units = 0;
  for (int T : p.T_values)
    for (int seed : p.seeds) {
      meter.update(units, "T=" + std::to_string(T) + " seed " + std::to_string(seed));
      units += work_units(T);
      for (const auto& [name, decays] : sets) {
        detail::Rng rng(static_cast<std::uint64_t>(seed) * 7919ULL + static_cast<std::uint64_t>(T));
        SsmRanks rk = ssm_ranks(decays, T, rng, p.rank_tol);
        const int distinct = detail::count_distinct(decays), nonzero = detail::count_distinct(decays, true);
        const int exp_gen = std::min(distinct, T), exp_ss = std::min(nonzero, T / 2);
        const bool ok = rk.generator_rank == exp_gen && rk.semiseparable_rank == exp_ss;
        if (!ok) ++mismatches;
        max_diff = std::max(max_diff, std::abs(rk.semiseparable_rank - exp_ss));
        cases.push_back({{"T", T}, {"case_seed", seed}, {"decay_set", name}, {"decays", decays},
                         {"N", decays.size()}, {"generator_rank", rk.generator_rank},
                         {"expected_generator_rank", exp_gen}, {"semiseparable_rank", rk.semiseparable_rank},
                         {"expected_semiseparable_rank", exp_ss}, {"full_rank", rk.full_rank}, {"ok", ok},
                         {"summary", "T=" + std::to_string(T) + " seed=" + std::to_string(seed) + " " + name +
                                         ": generator rank " + std::to_string(rk.generator_rank) + "/" +
                                         std::to_string(exp_gen) + ", semiseparable rank " +
                                         std::to_string(rk.semiseparable_rank) + "/" + std::to_string(exp_ss) +
                                         ", full rank " + std::to_string(rk.full_rank)}});
      }
    }
  ExperimentResult r;
  r.name = "exp3_rank_vs_state_dim";
  r.ok = mismatches == 0;
  r.metrics = {{"n_cases", cases.size()}, {"n_mismatch", mismatches}, {"max_abs_rank_diff", max_diff}, {"cases", cases}};
  r.details = std::to_string(cases.size()) + " cases: " + std::to_string(mismatches) +
              " where a rank differs from theory (generator rank = distinct decays, semiseparable rank = "
              "distinct nonzero decays, capped at T/2)";
  return r;
}

// ---- exp3b --------------------------------------------------------------------------------
nlohmann::json exp3b::Params::to_json() const {
  return {{"N_values", N_values}, {"seeds", seeds}, {"T", T}, {"rank_tol", rank_tol}, {"seed", seed}};
}

void exp3b::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  cli.add(prefix + "N-values", &p->N_values, "state sizes [states], increasing").nonempty().sorted().at_least(1);
  cli.add(prefix + "seeds", &p->seeds, "seeds for decay jitter and B, C").nonempty();
  cli.add(prefix + "T", &p->T, "sequence length [steps] (>= 2 max N)").at_least(2);
  cli.add(prefix + "rank-tol", &p->rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
}

ExperimentResult exp3b::run(const Params& p) {
  check_T_values(p.N_values, "--N-values");
  if (p.seeds.empty()) throw std::invalid_argument("--seeds must not be empty");
  if (p.T < 2 * p.N_values.back())
    throw std::invalid_argument("--T must be >= 2 max(N) so that a block can reach rank N (got T=" + std::to_string(p.T) + ")");
  nlohmann::json cases = nlohmann::json::array();
  int bad = 0;
  for (int N : p.N_values) {
    std::vector<double> ss, gen;
    for (int seed : p.seeds) {
      detail::Rng rng(static_cast<std::uint64_t>(seed) * 104729ULL + static_cast<std::uint64_t>(N));
      // well-spaced decays: the grid of spaced_decays(N), each moved by < 1/4 of the spacing
      std::vector<double> d = spaced_decays(N);
      const double h = N > 1 ? (d[1] - d[0]) / 4 : 0.05;
      for (auto& a : d) a += detail::uniform(rng, -h, h);
      auto rk = ssm_ranks(d, p.T, rng, p.rank_tol);
      ss.push_back(rk.semiseparable_rank);
      gen.push_back(rk.generator_rank);
    }
    auto s = stats::summarize(ss);
    auto g = stats::summarize(gen);
    const bool ok = s.min == N && s.max == N;
    if (!ok) ++bad;
    cases.push_back({{"N", N}, {"rank_mean", s.mean}, {"rank_std", s.std}, {"rank_min", s.min}, {"rank_max", s.max},
                     {"generator_rank_mean", g.mean}, {"n_seeds", s.n}, {"ok", ok},
                     {"summary", "N=" + std::to_string(N) + ": semiseparable rank " + fmt(s.mean) + " ± " + fmt(s.std) +
                                     " over " + std::to_string(s.n) + " seeds"}});
  }
  ExperimentResult r;
  r.name = "exp3b_rank_vs_state_dim";
  r.ok = bad == 0;
  r.metrics = {{"n_N", p.N_values.size()}, {"n_rank_ne_N", bad}, {"T", p.T}, {"cases", cases}};
  r.details = "T=" + std::to_string(p.T) + ", N in [" + std::to_string(p.N_values.front()) + ", " +
              std::to_string(p.N_values.back()) + "]: semiseparable rank == N for " +
              std::to_string(p.N_values.size() - bad) + "/" + std::to_string(p.N_values.size()) + " N (all seeds)";
  return r;
}

// ---- exp5 ---------------------------------------------------------------------------------
nlohmann::json exp5::Params::to_json() const {
  return {{"T_values", T_values}, {"d_k", d_k}, {"N", N}, {"rank_tol", rank_tol}, {"seed", seed}};
}

void exp5::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  cli.add(prefix + "T-values", &p->T_values, "sequence lengths [tokens], increasing").nonempty().sorted().at_least(1);
  cli.add(prefix + "d-k", &p->d_k, "query/key dimension [features]").at_least(1);
  cli.add(prefix + "N", &p->N, "state size of the SSM shown for contrast [states]").at_least(1);
  cli.add(prefix + "rank-tol", &p->rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
}

ExperimentResult exp5::run(const Params& p) {
  check_T_values(p.T_values, "--T-values");
  if (p.d_k < 1) throw std::invalid_argument("--d-k must be >= 1");
  if (p.N < 1) throw std::invalid_argument("--N must be >= 1");
  nlohmann::json cases = nlohmann::json::array();
  bool grows = true, above = true;
  int prev = -1;
  ProgressMeter meter("exp5_softmax_rank_growth", work_units_sum(p.T_values));
  double units = 0;
  for (int T : p.T_values) {
    meter.update(units, "T=" + std::to_string(T));
    units += work_units(T);
    auto rk = softmax_ranks(T, p.d_k, p.N, p.seed, p.rank_tol);
    const bool long_seq = T >= 4 * p.d_k;
    if (rk.causal_ss < prev) grows = false;
    prev = rk.causal_ss;
    if (long_seq && rk.causal_ss <= rk.ssm_ss) above = false;
    cases.push_back({{"T", T}, {"T_over_dk", static_cast<double>(T) / p.d_k}, {"softmax_full_rank", rk.causal_full},
                     {"softmax_semiseparable_rank", rk.causal_ss}, {"softmax_noncausal_rank", rk.noncausal_full},
                     {"ssm_semiseparable_rank", rk.ssm_ss}, {"N", p.N}, {"d_k", p.d_k},
                     {"summary", "T=" + std::to_string(T) + ": causal softmax full rank " + std::to_string(rk.causal_full) +
                                     ", semiseparable rank " + std::to_string(rk.causal_ss) + ", non-causal rank " +
                                     std::to_string(rk.noncausal_full) + "; SSM (N=" + std::to_string(p.N) +
                                     ") semiseparable rank " + std::to_string(rk.ssm_ss)}});
  }
  ExperimentResult r;
  r.name = "exp5_softmax_rank_growth";
  r.ok = grows && above;
  const auto& last = cases.back();
  r.metrics = {{"softmax_semiseparable_rank_last", last["softmax_semiseparable_rank"]},
               {"softmax_full_rank_last", last["softmax_full_rank"]}, {"ssm_semiseparable_rank_last", last["ssm_semiseparable_rank"]},
               {"T_last", last["T"]}, {"N", p.N}, {"d_k", p.d_k}, {"rank_nondecreasing", grows ? 1 : 0}, {"cases", cases}};
  r.details = "d_k=" + std::to_string(p.d_k) + ": softmax semiseparable rank at T=" + std::to_string(p.T_values.back()) +
              " is " + last["softmax_semiseparable_rank"].dump() + " (grows with T: " + (grows ? "yes" : "no") +
              ") vs SSM " + last["ssm_semiseparable_rank"].dump() + " = N";
  return r;
}

// ---- exp5b --------------------------------------------------------------------------------
nlohmann::json exp5b::Params::to_json() const {
  return {{"T_values", T_values}, {"seeds", seeds}, {"d_k", d_k}, {"N", N}, {"rank_tol", rank_tol}, {"seed", seed}};
}

void exp5b::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  cli.add(prefix + "T-values", &p->T_values, "sequence lengths [tokens], increasing").nonempty().sorted().at_least(1);
  cli.add(prefix + "seeds", &p->seeds, "seeds (one random Q, K per seed and T)").nonempty();
  cli.add(prefix + "d-k", &p->d_k, "query/key dimension [features]").at_least(1);
  cli.add(prefix + "N", &p->N, "state size of the SSM shown for contrast [states]").at_least(1);
  cli.add(prefix + "rank-tol", &p->rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
}

ExperimentResult exp5b::run(const Params& p) {
  check_T_values(p.T_values, "--T-values");
  if (p.seeds.empty()) throw std::invalid_argument("--seeds must not be empty");
  if (p.d_k < 1) throw std::invalid_argument("--d-k must be >= 1");
  nlohmann::json cases = nlohmann::json::array();
  bool ok = true;
  double prev = -1;
  ProgressMeter meter("exp5b_softmax_rank_growth", work_units_sum(p.T_values) * static_cast<double>(p.seeds.size()));
  double units = 0;
  for (int T : p.T_values) {
    std::vector<double> full, ss, nc, ssm, gap_nc, gap_ss, gap_full;
    for (int seed : p.seeds) {
      meter.update(units, "T=" + std::to_string(T) + " seed " + std::to_string(seed));
      units += work_units(T);
      // the SSM contrast (always rank N, and the costly part) once per T, with the first seed
      const bool first = seed == p.seeds.front();
      auto rk = softmax_ranks(T, p.d_k, p.N, static_cast<std::uint64_t>(seed), p.rank_tol, first);
      full.push_back(rk.causal_full);
      ss.push_back(rk.causal_ss);
      nc.push_back(rk.noncausal_full);
      if (first) ssm.push_back(rk.ssm_ss);
      gap_nc.push_back(T - rk.noncausal_full);
      gap_ss.push_back(T / 2 - rk.causal_ss);
      gap_full.push_back(T - rk.causal_full);
    }
    auto S = stats::summarize(ss), F = stats::summarize(full), NC = stats::summarize(nc), M = stats::summarize(ssm);
    auto G1 = stats::summarize(gap_nc), G2 = stats::summarize(gap_ss), G3 = stats::summarize(gap_full);
    if (S.mean < prev) ok = false;
    prev = S.mean;
    cases.push_back({{"T", T}, {"softmax_semiseparable_rank_mean", S.mean}, {"softmax_semiseparable_rank_std", S.std},
                     {"softmax_full_rank_mean", F.mean}, {"softmax_full_rank_std", F.std},
                     {"softmax_noncausal_rank_mean", NC.mean}, {"softmax_noncausal_rank_std", NC.std},
                     {"ssm_semiseparable_rank_mean", M.mean}, {"gap_noncausal_mean", G1.mean}, {"gap_noncausal_std", G1.std},
                     {"gap_semiseparable_mean", G2.mean}, {"gap_semiseparable_std", G2.std},
                     {"gap_causal_full_mean", G3.mean}, {"gap_causal_full_std", G3.std},
                     {"gap_ssm_semiseparable", T / 2 - M.mean}, {"n_seeds", S.n},
                     {"N", p.N}, {"d_k", p.d_k},
                     {"summary", "T=" + std::to_string(T) + ": softmax semiseparable rank " + fmt(S.mean) + " ± " + fmt(S.std) +
                                     ", non-causal rank " + fmt(NC.mean) + " ± " + fmt(NC.std) + ", SSM " + fmt(M.mean)}});
  }
  ExperimentResult r;
  r.name = "exp5b_softmax_rank_growth";
  r.ok = ok;
  r.metrics = {{"softmax_semiseparable_rank_mean_last", cases.back()["softmax_semiseparable_rank_mean"]},
               {"ssm_semiseparable_rank_mean_last", cases.back()["ssm_semiseparable_rank_mean"]},
               {"rank_mean_nondecreasing", ok ? 1 : 0}, {"N", p.N}, {"d_k", p.d_k}, {"cases", cases}};
  r.details = "softmax semiseparable rank (mean over " + std::to_string(p.seeds.size()) + " seeds) grows from " +
              fmt(cases.front()["softmax_semiseparable_rank_mean"].get<double>()) + " at T=" +
              std::to_string(p.T_values.front()) + " to " +
              fmt(cases.back()["softmax_semiseparable_rank_mean"].get<double>()) + " at T=" + std::to_string(p.T_values.back()) +
              "; SSM stays at " + fmt(cases.back()["ssm_semiseparable_rank_mean"].get<double>());
  return r;
}

}  // namespace ssmlab::duality
