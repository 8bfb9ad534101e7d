// data.cpp — generator, metrics and decay matching for the mixture-of-decays problem.
#include "time_series/data.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

namespace ssmlab::time_series {

std::string validate(const DecayProblem& p, bool allow_unstable) {
  std::ostringstream os;
  if (p.lambdas.empty()) return "--lambdas must not be empty";
  if (p.lambdas.size() != p.coeffs.size()) {
    os << "--lambdas and --coeffs must have the same length (got " << p.lambdas.size() << " and "
       << p.coeffs.size() << ")";
    return os.str();
  }
  if (p.T < 1) return "--T must be >= 1";
  if (!(p.noise_std >= 0)) return "--noise-std must be >= 0";
  if (!allow_unstable)
    for (double l : p.lambdas)
      if (!(l > 0 && l < 1)) {
        os << "--lambdas values must lie in (0, 1) (got " << l
           << "); pass --allow-unstable to accept decays outside it";
        return os.str();
      }
  return "";
}

std::vector<double> mixture_response(const DecayProblem& p, const std::vector<double>& x) {
  const size_t K = p.lambdas.size();
  std::vector<double> h(K, 0.0), y(x.size(), 0.0);
  for (size_t t = 0; t < x.size(); ++t) {
    double acc = 0;
    for (size_t k = 0; k < K; ++k) {
      h[k] = p.lambdas[k] * h[k] + x[t];  // h_{k,t} = λ_k h_{k,t-1} + x_t
      acc += p.coeffs[k] * h[k];
    }
    y[t] = acc;
  }
  return y;
}

SeqSet generate(const DecayProblem& p, int S, std::uint64_t seed) {
  SeqSet d;
  d.S = S;
  d.T = p.T;
  const size_t n = static_cast<size_t>(S) * p.T;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  d.x.resize(n);
  for (auto& v : d.x) v = normal(rng);
  d.y_clean.resize(n);
  d.y.resize(n);
  for (int i = 0; i < S; ++i) {
    std::vector<double> xi(d.x.begin() + static_cast<long>(i) * p.T, d.x.begin() + static_cast<long>(i + 1) * p.T);
    auto yi = mixture_response(p, xi);
    std::copy(yi.begin(), yi.end(), d.y_clean.begin() + static_cast<long>(i) * p.T);
  }
  for (size_t j = 0; j < n; ++j) d.y[j] = d.y_clean[j] + p.noise_std * normal(rng);
  return d;
}

Split make_split(const DecayProblem& p, int n_train, int n_val, std::uint64_t seed) {
  // Two fixed, well separated streams: the validation set never shares draws with training.
  std::seed_seq sq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32), 0x7453u};
  std::uint64_t s[2];
  std::uint32_t raw[4];
  sq.generate(raw, raw + 4);
  s[0] = (std::uint64_t(raw[0]) << 32) | raw[1];
  s[1] = (std::uint64_t(raw[2]) << 32) | raw[3];
  return {generate(p, n_train, s[0]), generate(p, n_val, s[1])};
}

double mse(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return a.empty() ? 0.0 : s / static_cast<double>(a.size());
}

double variance(const std::vector<double>& a) {
  if (a.empty()) return 0;
  double m = 0;
  for (double v : a) m += v;
  m /= static_cast<double>(a.size());
  double s = 0;
  for (double v : a) s += (v - m) * (v - m);
  return s / static_cast<double>(a.size());
}

std::vector<int> hungarian(const std::vector<double>& cost, int n, int m) {
  // Potentials method (Kuhn-Munkres, shortest augmenting paths); 1-based internally, rows <= cols.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(m + 1, 0);
  std::vector<int> p(m + 1, 0), way(m + 1, 0);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(m + 1, inf);
    std::vector<char> used(m + 1, 0);
    do {
      used[j0] = 1;
      int i0 = p[j0], j1 = 0;
      double delta = inf;
      for (int j = 1; j <= m; ++j) {
        if (used[j]) continue;
        double cur = cost[static_cast<size_t>(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
        if (minv[j] < delta) { delta = minv[j]; j1 = j; }
      }
      for (int j = 0; j <= m; ++j) {
        if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
        else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  std::vector<int> col(n, -1);
  for (int j = 1; j <= m; ++j)
    if (p[j]) col[p[j] - 1] = j - 1;
  return col;
}

DecayMatch match_decays(const std::vector<double>& learnt, const std::vector<double>& truth) {
  DecayMatch r;
  const int N = static_cast<int>(learnt.size()), K = static_cast<int>(truth.size());
  if (N == 0 || K == 0) { r.unmatched_true = K; return r; }
  auto rel = [&](int n, int k) { return std::abs(learnt[n] - truth[k]) / std::max(std::abs(truth[k]), 1e-300); };
  if (N >= K) {  // rows = true decays
    std::vector<double> c(static_cast<size_t>(K) * N);
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < N; ++n) c[static_cast<size_t>(k) * N + n] = rel(n, k);
    auto col = hungarian(c, K, N);
    for (int k = 0; k < K; ++k) r.pairs.push_back({col[k], k});
  } else {       // rows = learnt decays
    std::vector<double> c(static_cast<size_t>(N) * K);
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < K; ++k) c[static_cast<size_t>(n) * K + k] = rel(n, k);
    auto col = hungarian(c, N, K);
    for (int n = 0; n < N; ++n) r.pairs.push_back({n, col[n]});
    r.unmatched_true = K - N;
  }
  std::sort(r.pairs.begin(), r.pairs.end(), [](auto a, auto b) { return a.second < b.second; });
  for (auto [n, k] : r.pairs) r.rel_err.push_back(rel(n, k));
  for (double e : r.rel_err) { r.max_rel_err = std::max(r.max_rel_err, e); r.mean_rel_err += e; }
  r.mean_rel_err /= static_cast<double>(r.rel_err.size());
  return r;
}

}  // namespace ssmlab::time_series
