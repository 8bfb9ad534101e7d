// exp_equivalence.cpp — exp1, exp2, exp2b: the recurrence and the kernel give the same outputs.
#include <cmath>
#include <stdexcept>

#include "duality/experiments.h"
#include "duality/rank.h"
#include "duality/recurrence.h"
#include "duality/src/internal.h"

namespace ssmlab::duality {

using detail::fmt;
using detail::rel_err;

// ---- exp1 ---------------------------------------------------------------------------------
nlohmann::json exp1::Params::to_json() const { return {{"T", T}, {"a", a}, {"seed", seed}}; }

void exp1::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  cli.add(prefix + "T", &p->T, "sequence length [steps]").at_least(1);
  cli.add(prefix + "a", &p->a, "scalar decay a [dimensionless]");
}

ExperimentResult exp1::run(const Params& p) {
  if (p.T < 1) throw std::invalid_argument("--T must be >= 1 (got " + std::to_string(p.T) + ")");
  if (!std::isfinite(p.a)) throw std::invalid_argument("--a must be finite");
  if (std::abs(p.a) > 1 && (p.T - 1) * std::log(std::abs(p.a)) > 600)
    throw std::invalid_argument("--a: |a|^(T-1) overflows double (|a| = " + fmt(std::abs(p.a)) + ", T = " + std::to_string(p.T) + ")");
  detail::Rng rng(p.seed);
  const double b = detail::randn(rng, 1)[0], c = detail::randn(rng, 1)[0];
  VectorXd x = detail::randn(rng, p.T);  // (T)
  VectorXd y_rec(p.T), y_att(p.T), k(p.T);
  MatrixXd M(p.T, p.T);                  // (T×T) 1-SS kernel
  scalar_recurrence(p.a, b, c, x, y_rec);
  scalar_kernel(p.a, b, c, M, k);
  y_att.noalias() = M * x;
  const double abs_err = (y_rec - y_att).cwiseAbs().maxCoeff();
  const double rel = rel_err(y_att, y_rec);
  ExperimentResult r;
  r.name = "exp1_scalar_equivalence";
  r.ok = std::abs(p.a) > 1 || rel < 1e-12;
  r.metrics = {{"max_abs_err", abs_err}, {"max_rel_err", rel}, {"max_abs_y", y_rec.cwiseAbs().maxCoeff()},
               {"abs_a", std::abs(p.a)}, {"T", p.T}, {"b", b}, {"c", c}};
  r.details = "T=" + std::to_string(p.T) + " a=" + fmt(p.a) + ": max|y_rec - M x| = " + fmt(abs_err) +
              " (relative " + fmt(rel) + ")";
  return r;
}

// ---- exp2 ---------------------------------------------------------------------------------
nlohmann::json exp2::Params::to_json() const {
  return {{"T", T}, {"decays", decays}, {"N", decays.size()}, {"seed", seed}, {"rank_tol", rank_tol}};
}

void exp2::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  cli.add(prefix + "T", &p->T, "sequence length [steps]").at_least(1);
  cli.add(prefix + "decays", &p->decays, "diagonal decays a_m, |a_m| <= 1 (N = how many)").nonempty().at_least(-1.0).at_most(1.0);
  cli.add(prefix + "rank-tol", &p->rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
}

ExperimentResult exp2::run(const Params& p) {
  if (p.T < 1) throw std::invalid_argument("--T must be >= 1 (got " + std::to_string(p.T) + ")");
  if (p.decays.empty()) throw std::invalid_argument("--decays must not be empty");
  for (double a : p.decays)
    if (!std::isfinite(a) || std::abs(a) > 1) throw std::invalid_argument("--decays values must satisfy |a| <= 1 (got " + fmt(a) + ")");
  const Index T = p.T, N = static_cast<Index>(p.decays.size());
  detail::Rng rng(p.seed);
  VectorXd a = detail::to_eigen(p.decays);  // (N)
  VectorXd B = detail::randn(rng, N);        // (N)
  VectorXd C = detail::randn(rng, N);        // (N)
  VectorXd x = detail::randn(rng, T);        // (T)
  VectorXd y_rec(T), y_heads = VectorXd::Zero(T), y_kernel(T), h(N), k(T), pbuf(N);
  MatrixXd M(T, T), head(T, T);
  diagonal_recurrence(a, B, C, x, y_rec, h);
  for (Index m = 0; m < N; ++m) {  // head m: 1-SS kernel C_m B_m a_m^{t-s}
    scalar_kernel(a[m], B[m], C[m], head, k);
    y_heads.noalias() += head * x;
  }
  diagonal_kernel(a, B, C, M, k, pbuf);
  y_kernel.noalias() = M * x;
  // Vandermonde generator V[t,m] = a_m^t (T×N): every block below the diagonal factors as
  // M[k:, :k] = V[0:T-k, :] diag(C∘B) (V[1:k+1, :] reversed)ᵀ, so rank V = number of distinct decays
  // bounds the semiseparable rank
  MatrixXd V(T, N);
  V.row(0).setOnes();
  for (Index t = 1; t < T; ++t) V.row(t) = V.row(t - 1).cwiseProduct(a.transpose());
  const int gen_rank = numerical_rank(V, p.rank_tol);
  const int ss_rank = semiseparable_rank(M, p.rank_tol);
  const int distinct = detail::count_distinct(p.decays);
  const int expected_gen = std::min<int>(distinct, static_cast<int>(T));
  const double err_heads = rel_err(y_heads, y_rec), err_kernel = rel_err(y_kernel, y_rec);
  ExperimentResult r;
  r.name = "exp2_diagonal_equivalence";
  r.ok = err_heads < 1e-12 && err_kernel < 1e-12 && gen_rank == expected_gen;
  r.metrics = {{"max_rel_err_heads", err_heads}, {"max_rel_err_kernel", err_kernel},
               {"max_rel_err", std::max(err_heads, err_kernel)}, {"generator_rank", gen_rank},
               {"expected_generator_rank", expected_gen}, {"n_distinct_decays", distinct},
               {"semiseparable_rank", ss_rank}, {"N", N}, {"T", T}};
  r.details = "T=" + std::to_string(T) + " N=" + std::to_string(N) + ": rel err heads " + fmt(err_heads) + ", kernel " +
              fmt(err_kernel) + "; generator rank " + std::to_string(gen_rank) + " (distinct decays " +
              std::to_string(distinct) + "), semiseparable rank " + std::to_string(ss_rank);
  return r;
}

// ---- exp2b --------------------------------------------------------------------------------
nlohmann::json exp2b::Params::to_json() const { return {{"T", T}, {"N", N}, {"seed", seed}, {"mode", mode}}; }

void exp2b::add_flags(Cli& cli, Params* p, const std::string& prefix) {
  cli.add(prefix + "T", &p->T, "sequence length [steps]").at_least(1);
  cli.add(prefix + "N", &p->N, "state size [states]").at_least(1);
  cli.add(prefix + "mode", &p->mode, "parameterisation: random (A_t ~ U(-1,1)) or selective (Mamba)").one_of({"random", "selective"});
}

ExperimentResult exp2b::run(const Params& p) {
  if (p.T < 1) throw std::invalid_argument("--T must be >= 1 (got " + std::to_string(p.T) + ")");
  if (p.N < 1) throw std::invalid_argument("--N must be >= 1 (got " + std::to_string(p.N) + ")");
  if (p.mode != "random" && p.mode != "selective")
    throw std::invalid_argument("--mode must be random or selective (got '" + p.mode + "')");
  const Index T = p.T, N = p.N;
  detail::Rng rng(p.seed);
  MatrixXd A(N, T), B = detail::randn(rng, N, T), C = detail::randn(rng, N, T);  // (N×T) each
  if (p.mode == "random") {
    for (Index t = 0; t < T; ++t)
      for (Index m = 0; m < N; ++m) A(m, t) = detail::uniform(rng, -1.0, 1.0);
  } else {
    detail::selective_params(rng, A, B);  // A_t = exp(Δ_t A), B̄_t = Δ_t B_t
  }
  VectorXd x = detail::randn(rng, T), y_rec(T), y_att(T), h(N), v(N);
  MatrixXd M(T, T);
  timevarying_recurrence(A, B, C, x, y_rec, h);
  timevarying_kernel(A, B, C, M, v);
  y_att.noalias() = M * x;
  const double rel = rel_err(y_att, y_rec);
  ExperimentResult r;
  r.name = "exp2b_timevarying_diagonal";
  r.ok = rel < 1e-12;
  r.metrics = {{"max_rel_err", rel}, {"max_abs_err", (y_att - y_rec).cwiseAbs().maxCoeff()}, {"T", T}, {"N", N},
               {"semiseparable_rank", semiseparable_rank(M)}};
  r.details = "T=" + std::to_string(T) + " N=" + std::to_string(N) + " (" + p.mode +
              "): max rel |y_rec - M x| = " + fmt(rel);
  return r;
}

}  // namespace ssmlab::duality
