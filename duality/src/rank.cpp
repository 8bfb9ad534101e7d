// rank.cpp — see rank.h.
#include "duality/rank.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace ssmlab::duality {

double default_rank_tolerance(double sigma_max, Eigen::Index m, Eigen::Index n) {
  return sigma_max * static_cast<double>(std::max(m, n)) * std::numeric_limits<double>::epsilon();
}

int numerical_rank(const Eigen::Ref<const Eigen::MatrixXd>& M, double tol) {
  if (M.rows() == 0 || M.cols() == 0) return 0;
  // singular values only (no U, V); BDCSVD falls back to Jacobi for small blocks
  Eigen::BDCSVD<Eigen::MatrixXd> svd(M);
  const Eigen::VectorXd& sv = svd.singularValues();  // descending
  const double thr = tol > 0.0 ? tol : default_rank_tolerance(sv[0], M.rows(), M.cols());
  int r = 0;
  while (r < sv.size() && sv[r] > thr) ++r;
  return r;
}

int semiseparable_rank(const Eigen::Ref<const Eigen::MatrixXd>& M, double tol) {
  const Eigen::Index T = M.rows();
  // Block k can have rank at most min(k, T-k). Visit the splits in decreasing order of that bound
  // and stop once none left can beat the best rank found: a full-rank kernel (softmax) needs one
  // SVD; an N-semiseparable one needs every split with min(k, T-k) > N.
  std::vector<Eigen::Index> splits;
  for (Eigen::Index k = 1; k < T; ++k) splits.push_back(k);
  auto bound = [T](Eigen::Index k) { return std::min(k, T - k); };
  std::stable_sort(splits.begin(), splits.end(), [&](Eigen::Index i, Eigen::Index j) { return bound(i) > bound(j); });
  int best = 0;
  for (Eigen::Index k : splits) {
    if (bound(k) <= best) break;
    best = std::max(best, numerical_rank(M.bottomLeftCorner(T - k, k), tol));
  }
  return best;
}

}  // namespace ssmlab::duality
