// internal.h — helpers shared by the experiment sources (not installed).
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <Eigen/Dense>

namespace ssmlab::duality::detail {

using Rng = std::mt19937_64;

inline Eigen::VectorXd randn(Rng& rng, Eigen::Index n) {
  std::normal_distribution<double> d(0.0, 1.0);
  Eigen::VectorXd v(n);
  for (Eigen::Index i = 0; i < n; ++i) v[i] = d(rng);
  return v;
}
inline Eigen::MatrixXd randn(Rng& rng, Eigen::Index r, Eigen::Index c) {
  std::normal_distribution<double> d(0.0, 1.0);
  Eigen::MatrixXd m(r, c);
  for (Eigen::Index j = 0; j < c; ++j)
    for (Eigen::Index i = 0; i < r; ++i) m(i, j) = d(rng);
  return m;
}
inline double uniform(Rng& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

// max |u - v| / max(max |v|, tiny)
inline double rel_err(const Eigen::VectorXd& u, const Eigen::VectorXd& v) {
  double scale = v.cwiseAbs().maxCoeff();
  return (u - v).cwiseAbs().maxCoeff() / (scale > 0 ? scale : 1.0);
}

// Number of distinct values (|a_i - a_j| > 1e-12 counts as distinct).
inline int count_distinct(std::vector<double> v, bool skip_zero = false) {
  std::sort(v.begin(), v.end());
  int n = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (skip_zero && v[i] == 0.0) continue;
    if (n == 0 || i == 0 || std::abs(v[i] - v[i - 1]) > 1e-12) ++n;
  }
  return n;
}

inline std::string fmt(double v, int prec = 3) {
  std::ostringstream os;
  os.precision(prec);
  os << v;
  return os.str();
}

inline Eigen::VectorXd to_eigen(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

// Mamba (S6) selective parameterisation of a time-varying diagonal SSM, written into A, B (N×T):
//   A_cont[m] = -(m+1) (S4D-real), Δ_t = softplus(u_t), u_t ~ U(-4, 0),
//   A_t = exp(Δ_t A_cont) (zero-order hold), B̄_t = Δ_t B_t (B_t ~ N(0,1), Euler step as in Mamba).
inline void selective_params(Rng& rng, Eigen::MatrixXd& A, Eigen::MatrixXd& B) {
  const Eigen::Index N = A.rows(), T = A.cols();
  Eigen::ArrayXd A_cont = -Eigen::ArrayXd::LinSpaced(N, 1.0, static_cast<double>(N));
  B = randn(rng, N, T);
  for (Eigen::Index t = 0; t < T; ++t) {
    const double dt = std::log1p(std::exp(uniform(rng, -4.0, 0.0)));  // softplus
    A.col(t) = (dt * A_cont).exp().matrix();
    B.col(t) *= dt;
  }
}

}  // namespace ssmlab::duality::detail
