// exp_timing.cpp — exp4, exp4b (recurrence O(T) vs kernel O(T²)) and exp6 (chunked SSD O(T·Q)).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "ssmlab/progress_meter.h"
#include "duality/experiments.h"
#include "duality/recurrence.h"
#include "duality/ssd.h"
#include "duality/src/internal.h"
#include "ssmlab/stats.h"
#include "ssmlab/timer.h"

namespace ssmlab::duality {

using detail::fmt;

namespace {
// --min-sample-s, shared by the timed experiments (exp4, exp4b, exp6).
void add_min_sample_s(Cli& cli, double* min_sample_s, const std::string& prefix) {
  cli.add(prefix + "min-sample-s", min_sample_s,
          "each sample loops the call for at least this long [s] (at most 10: a sample is a fastest-of timing, not a soak test)")
      .greater_than(0.0)
      .at_most(10.0);
}
// The flags exp4 and exp4b share (same names, help and checks; the defaults are each Params' own):
// --T-values --N --min-sample-s --end-to-end. P is exp4::Params or exp4b::Params.
template <class P>
void add_time_scaling_flags(Cli& cli, P* p, const std::string& prefix) {
  cli.add(prefix + "T-values", &p->T_values, "sequence lengths [steps], increasing (>= 2 values)").nonempty().sorted().at_least(1);
  cli.add(prefix + "N", &p->N, "state size [states]").at_least(1);
  add_min_sample_s(cli, &p->min_sample_s, prefix);
  cli.flag(prefix + "end-to-end", &p->end_to_end, "include building the kernel in its time");
}
void check_T_values(const std::vector<int>& Ts) {
  if (Ts.empty()) throw std::invalid_argument("--T-values must not be empty");
  for (size_t i = 0; i < Ts.size(); ++i) {
    if (Ts[i] < 1) throw std::invalid_argument("--T-values values must all be >= 1 (got " + std::to_string(Ts[i]) + ")");
    if (i && Ts[i] <= Ts[i - 1]) throw std::invalid_argument("--T-values values must be strictly increasing");
  }
}

// One random time-invariant diagonal SSM of size N at length T, with every buffer preallocated.
struct LtiProblem {
  VectorXd a, B, C, x, y, h, k, p;
  MatrixXd M;
  LtiProblem(int N, int T, detail::Rng& rng)
      : a(N), B(detail::randn(rng, N)), C(detail::randn(rng, N)), x(detail::randn(rng, T)), y(T), h(N), k(T), p(N), M(T, T) {
    for (int m = 0; m < N; ++m) a[m] = detail::uniform(rng, 0.5, 0.99);
  }
  void recurrence() { diagonal_recurrence(a, B, C, x, y, h); }
  void build() { diagonal_kernel(a, B, C, M, k, p); }
  void multiply() { y.noalias() = M * x; }
};

// The fitted power law exp(intercept) T^slope of a log-log fit (natural logs, stats::loglog_fit).
double fitted(const stats::LinearFit& f, double T) { return std::exp(f.intercept) * std::pow(T, f.slope); }
}  // namespace

// ---- flags (one declaration per experiment: the binaries use them bare, run_and_log prefixed) ----
void exp4::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  add_time_scaling_flags(cli, p, prefix);
  cli.add(prefix + "repeats", &p->repeats, "timed samples per T (the fastest is fitted, the median logged too)").at_least(1);
  cli.add(prefix + "warmups", &p->warmups, "untimed warm-up samples").at_least(0);
}

void exp4b::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  add_time_scaling_flags(cli, p, prefix);
  cli.add(prefix + "n-trials", &p->n_trials, "random SSMs per T").at_least(2);
  cli.add(prefix + "n-repeats", &p->n_repeats, "timed samples per trial (fastest taken)").at_least(1);
}

void exp6::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  cli.add(prefix + "T-values", &p->T_values, "sequence lengths [steps], increasing").nonempty().sorted().at_least(1);
  cli.add(prefix + "chunks", &p->chunks, "chunk lengths Q [steps] (need not divide T)").nonempty().at_least(1);
  cli.add(prefix + "N", &p->N, "state size [states]").at_least(1);
  cli.add(prefix + "repeats", &p->repeats, "timed samples per point (fastest reported)").at_least(1);
  add_min_sample_s(cli, &p->min_sample_s, prefix);
  cli.add(prefix + "max-T-full", &p->max_T_full, "largest T for the O(T^2 N) full kernel [steps]").at_least(1);
}

// ---- exp4 ---------------------------------------------------------------------------------
nlohmann::json exp4::Params::to_json() const {
  return {{"T_values", T_values}, {"N", N}, {"repeats", repeats}, {"warmups", warmups},
          {"min_sample_s", min_sample_s}, {"end_to_end", end_to_end}, {"seed", seed}};
}

ExperimentResult exp4::run(const Params& p) {
  check_T_values(p.T_values);
  if (p.T_values.size() < 2) throw std::invalid_argument("--T-values needs at least 2 values to fit an exponent");
  if (p.N < 1 || p.repeats < 1 || p.warmups < 0) throw std::invalid_argument("--N and --repeats must be >= 1, --warmups >= 0");
  nlohmann::json cases = nlohmann::json::array();
  std::vector<double> Ts, t_rec, t_ker;
  double max_err = 0;
  ProgressMeter meter("exp4_time_scaling", static_cast<double>(p.T_values.size()));
  for (int T : p.T_values) {
    meter.update(static_cast<double>(Ts.size()), std::to_string(Ts.size() + 1) + "/" + std::to_string(p.T_values.size()),
                 "T=" + std::to_string(T));
    detail::Rng rng(p.seed * 1000003ULL + static_cast<std::uint64_t>(T));
    LtiProblem P(p.N, T, rng);
    P.build();
    P.multiply();
    VectorXd y_att = P.y;
    P.recurrence();
    max_err = std::max(max_err, detail::rel_err(y_att, P.y));
    auto tr = time_per_call([&] { P.recurrence(); do_not_optimize(P.y[T - 1]); }, p.min_sample_s, p.warmups, p.repeats);
    auto tk = time_per_call([&] { if (p.end_to_end) P.build(); P.multiply(); do_not_optimize(P.y[T - 1]); },
                            p.min_sample_s, p.warmups, p.repeats);
    // the fit uses the fastest sample: on a shared machine every slower one is the same work plus
    // preemption (the median is logged beside it)
    Ts.push_back(T);
    t_rec.push_back(tr.min_s);
    t_ker.push_back(tk.min_s);
    cases.push_back({{"T", T}, {"t_rec_s", tr.min_s}, {"t_rec_median_s", tr.median_s}, {"t_kernel_s", tk.min_s},
                     {"t_kernel_median_s", tk.median_s}, {"kernel_over_rec", tk.min_s / tr.min_s},
                     {"summary", "T=" + std::to_string(T) + ": recurrence " + fmt(tr.min_s * 1e6) + " us, kernel " +
                                     fmt(tk.min_s * 1e6) + " us (fastest of " + std::to_string(p.repeats) + " samples)"}});
  }
  auto fr = stats::loglog_fit(Ts, t_rec), fk = stats::loglog_fit(Ts, t_ker);
  nlohmann::json points = nlohmann::json::array();  // the fitted lines, at the measured T
  for (int T : p.T_values)
    points.push_back({{"T", T}, {"t_rec_fit_s", fitted(fr, T)}, {"t_kernel_fit_s", fitted(fk, T)},
                      {"summary", "T=" + std::to_string(T) + ": fitted lines"}});
  ExperimentResult r;
  r.name = "exp4_time_scaling";
  r.ok = max_err < 1e-12;
  r.metrics = {{"rec_exponent", fr.slope}, {"kernel_exponent", fk.slope}, {"rec_fit_intercept", fr.intercept},
               {"kernel_fit_intercept", fk.intercept}, {"rec_fit_r2", fr.r2}, {"kernel_fit_r2", fk.r2},
               {"max_rel_err", max_err}, {"end_to_end", p.end_to_end ? 1 : 0}, {"N", p.N},
               {"kernel_over_rec_last", t_ker.back() / t_rec.back()}, {"cases", cases}, {"points", points}};
  r.details = std::string(p.end_to_end ? "end-to-end" : "multiply only") + ", N=" + std::to_string(p.N) +
              ": time ~ T^" + fmt(fr.slope) + " (recurrence) vs T^" + fmt(fk.slope) + " (kernel); at T=" +
              std::to_string(p.T_values.back()) + " the kernel is " + fmt(t_ker.back() / t_rec.back()) +
              "x slower; rel err " + fmt(max_err);
  return r;
}

// ---- exp4b --------------------------------------------------------------------------------
nlohmann::json exp4b::Params::to_json() const {
  return {{"T_values", T_values}, {"N", N}, {"n_trials", n_trials}, {"n_repeats", n_repeats},
          {"min_sample_s", min_sample_s}, {"end_to_end", end_to_end}, {"seed", seed}};
}

ExperimentResult exp4b::run(const Params& p) {
  check_T_values(p.T_values);
  if (p.T_values.size() < 2) throw std::invalid_argument("--T-values needs at least 2 values to fit an exponent");
  if (p.N < 1) throw std::invalid_argument("--N must be >= 1");
  if (p.n_trials < 2) throw std::invalid_argument("--n-trials must be >= 2 for a confidence interval (got " + std::to_string(p.n_trials) + ")");
  if (p.n_repeats < 1) throw std::invalid_argument("--n-repeats must be >= 1");
  nlohmann::json cases = nlohmann::json::array();
  std::vector<double> Ts, m_rec, m_ker;
  double max_err = 0;
  ProgressMeter meter("exp4b_time_scaling_errorbars", static_cast<double>(p.T_values.size()) * p.n_trials);
  double units = 0;
  for (int T : p.T_values) {
    std::vector<double> rec, ker;
    for (int trial = 0; trial < p.n_trials; ++trial) {
      meter.update(units, "T=" + std::to_string(T) + " trial " + std::to_string(trial + 1) + "/" + std::to_string(p.n_trials));
      units += 1;
      detail::Rng rng(p.seed * 1000003ULL + static_cast<std::uint64_t>(T) * 131ULL + static_cast<std::uint64_t>(trial));
      LtiProblem P(p.N, T, rng);
      P.build();
      P.multiply();
      VectorXd y_att = P.y;
      P.recurrence();
      max_err = std::max(max_err, detail::rel_err(y_att, P.y));
      rec.push_back(time_per_call([&] { P.recurrence(); do_not_optimize(P.y[T - 1]); }, p.min_sample_s, 1, p.n_repeats).min_s);
      ker.push_back(time_per_call([&] { if (p.end_to_end) P.build(); P.multiply(); do_not_optimize(P.y[T - 1]); },
                                  p.min_sample_s, 1, p.n_repeats).min_s);
    }
    auto R = stats::summarize(rec), K = stats::summarize(ker);
    Ts.push_back(T);
    m_rec.push_back(R.mean);
    m_ker.push_back(K.mean);
    cases.push_back({{"T", T}, {"t_rec_mean_s", R.mean}, {"t_rec_ci95_s", R.ci95}, {"t_kernel_mean_s", K.mean},
                     {"t_kernel_ci95_s", K.ci95}, {"n_trials", R.n},
                     {"summary", "T=" + std::to_string(T) + ": recurrence " + fmt(R.mean * 1e6) + " ± " + fmt(R.ci95 * 1e6) +
                                     " us, kernel " + fmt(K.mean * 1e6) + " ± " + fmt(K.ci95 * 1e6) + " us (95% CI, " +
                                     std::to_string(R.n) + " trials)"}});
  }
  auto fr = stats::loglog_fit(Ts, m_rec), fk = stats::loglog_fit(Ts, m_ker);
  ExperimentResult r;
  r.name = "exp4b_time_scaling_errorbars";
  r.ok = max_err < 1e-12;
  r.metrics = {{"rec_exponent", fr.slope}, {"kernel_exponent", fk.slope}, {"rec_fit_intercept", fr.intercept},
               {"kernel_fit_intercept", fk.intercept}, {"max_rel_err", max_err}, {"end_to_end", p.end_to_end ? 1 : 0},
               {"N", p.N}, {"n_trials", p.n_trials}, {"cases", cases}};
  r.details = std::to_string(p.n_trials) + " trials per T: mean time ~ T^" + fmt(fr.slope) + " (recurrence) vs T^" +
              fmt(fk.slope) + " (kernel" + (p.end_to_end ? ", build included" : "") + ")";
  return r;
}

// ---- exp6 ---------------------------------------------------------------------------------
nlohmann::json exp6::Params::to_json() const {
  return {{"T_values", T_values}, {"chunks", chunks}, {"N", N}, {"repeats", repeats},
          {"min_sample_s", min_sample_s}, {"max_T_full", max_T_full}, {"seed", seed}};
}

ExperimentResult exp6::run(const Params& p) {
  check_T_values(p.T_values);
  if (p.chunks.empty()) throw std::invalid_argument("--chunks must not be empty");
  for (int q : p.chunks)
    if (q < 1) throw std::invalid_argument("--chunks values must all be >= 1 (got " + std::to_string(q) + ")");
  if (p.N < 1 || p.repeats < 1) throw std::invalid_argument("--N and --repeats must be >= 1");
  nlohmann::json cases = nlohmann::json::array(), points = nlohmann::json::array();
  auto point = [&](int T, const std::string& method, double t_s) -> nlohmann::json& {
    points.push_back({{"T", T}, {"method", method}, {"t_s", t_s}, {"summary", "T=" + std::to_string(T) + ": " + method}});
    return points.back();
  };
  std::vector<double> Ts, t_rec, Ts_full, t_full;
  std::vector<std::vector<double>> t_chunk(p.chunks.size());
  double err_rec = 0, err_full = 0;
  ProgressMeter meter("exp6_chunked_ssd", static_cast<double>(p.T_values.size()));
  for (int T : p.T_values) {
    meter.update(static_cast<double>(Ts.size()), std::to_string(Ts.size() + 1) + "/" + std::to_string(p.T_values.size()),
                 "T=" + std::to_string(T));
    detail::Rng rng(p.seed * 1000003ULL + static_cast<std::uint64_t>(T));
    MatrixXd A(p.N, T), B, C = detail::randn(rng, p.N, T);  // (N×T)
    detail::selective_params(rng, A, B);
    VectorXd x = detail::randn(rng, T), y_rec(T), y(T), h(p.N), v(p.N);
    timevarying_recurrence(A, B, C, x, y_rec, h);
    const bool full = T <= p.max_T_full;
    MatrixXd M(full ? T : 0, full ? T : 0);
    VectorXd y_full(full ? T : 0);
    if (full) {
      timevarying_kernel(A, B, C, M, v);
      y_full.noalias() = M * x;
      err_full = std::max(err_full, detail::rel_err(y_full, y_rec));
    }
    nlohmann::json c = {{"T", T}};
    ChunkWorkspace w;
    for (size_t qi = 0; qi < p.chunks.size(); ++qi) {
      const int Q = p.chunks[qi];
      ssd_chunked(A, B, C, x, Q, y, w);
      const double e = detail::rel_err(y, y_rec);
      err_rec = std::max(err_rec, e);
      if (full) err_full = std::max(err_full, detail::rel_err(y, y_full));
      auto tc = time_per_call([&] { ssd_chunked(A, B, C, x, Q, y, w); do_not_optimize(y[T - 1]); }, p.min_sample_s, 1, p.repeats);
      t_chunk[qi].push_back(tc.min_s);
      c["t_chunked_Q" + std::to_string(Q) + "_s"] = tc.min_s;
      point(T, "chunked SSD, Q = " + std::to_string(Q), tc.min_s)["Q"] = Q;
      c["rel_err_chunked_Q" + std::to_string(Q)] = e;
    }
    auto tr = time_per_call([&] { timevarying_recurrence(A, B, C, x, y, h); do_not_optimize(y[T - 1]); }, p.min_sample_s, 1, p.repeats);
    Ts.push_back(T);
    t_rec.push_back(tr.min_s);
    c["t_rec_s"] = tr.min_s;
    point(T, "recurrence", tr.min_s);
    std::string summary = "T=" + std::to_string(T) + ": recurrence " + fmt(tr.min_s * 1e6) + " us, chunked Q=" +
                          std::to_string(p.chunks.front()) + " " + fmt(t_chunk[0].back() * 1e6) + " us";
    if (full) {
      auto tf = time_per_call([&] { timevarying_kernel(A, B, C, M, v); y.noalias() = M * x; do_not_optimize(y[T - 1]); },
                              p.min_sample_s, 1, std::min(p.repeats, 3));
      Ts_full.push_back(T);
      t_full.push_back(tf.min_s);
      c["t_full_s"] = tf.min_s;
      point(T, "full T×T kernel, built + multiplied", tf.min_s);
      summary += ", full kernel " + fmt(tf.min_s * 1e6) + " us";
    }
    c["summary"] = summary;
    cases.push_back(c);
  }
  ExperimentResult r;
  r.name = "exp6_chunked_ssd";
  r.ok = err_rec < 1e-12 && err_full < 1e-12;
  auto fr = stats::loglog_fit(Ts, t_rec);
  r.metrics = {{"max_rel_err", std::max(err_rec, err_full)}, {"max_rel_err_vs_recurrence", err_rec},
               {"max_rel_err_vs_full", err_full}, {"rec_exponent", fr.slope}, {"rec_fit_intercept", fr.intercept},
               {"N", p.N}, {"chunks", p.chunks}};
  if (Ts.size() >= 2) {
    for (size_t qi = 0; qi < p.chunks.size(); ++qi) {
      auto f = stats::loglog_fit(Ts, t_chunk[qi]);
      r.metrics["chunked_Q" + std::to_string(p.chunks[qi]) + "_exponent"] = f.slope;
      r.metrics["chunked_Q" + std::to_string(p.chunks[qi]) + "_fit_intercept"] = f.intercept;
    }
  }
  if (Ts_full.size() >= 2) {
    auto f = stats::loglog_fit(Ts_full, t_full);
    r.metrics["full_exponent"] = f.slope;
    r.metrics["full_fit_intercept"] = f.intercept;
  }
  r.metrics["cases"] = cases;
  r.metrics["points"] = points;
  r.details = "chunked SSD (Q in " + nlohmann::json(p.chunks).dump() + ") vs recurrence: rel err " + fmt(err_rec) +
              ", vs full kernel " + fmt(err_full) + (Ts.size() >= 2 ? "; recurrence ~ T^" + fmt(fr.slope) : std::string()) +
              (r.metrics.contains("full_exponent") ? ", full kernel ~ T^" + fmt(r.metrics["full_exponent"].get<double>()) : std::string());
  return r;
}

}  // namespace ssmlab::duality
