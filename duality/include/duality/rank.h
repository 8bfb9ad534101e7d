// rank.h — numerical rank and semiseparable rank.
//
// Numerical rank = number of singular values above a tolerance. The default tolerance is
// σ_max · max(m, n) · ε (ε = 2.2e-16, the double machine epsilon), the same rule as NumPy's
// matrix_rank and LAPACK-based rank decisions: singular values below it are indistinguishable
// from rounding noise of an m×n matrix. Pass tol > 0 to use an absolute threshold instead.
//
// Semiseparable rank of a T×T (lower-triangular) kernel M = the largest rank of any block
// strictly below the diagonal, M[k:T, 0:k] for k = 1..T-1 (SSD paper, Definition 3.1). An SSM
// with N states gives a kernel of semiseparable rank ≤ N; each block gets its own default
// tolerance (σ_max of that block).
#pragma once

#include <Eigen/Dense>

namespace ssmlab::duality {

// σ_max · max(m, n) · ε
double default_rank_tolerance(double sigma_max, Eigen::Index m, Eigen::Index n);

// Number of singular values > tol (tol <= 0: the default above). 0 for an empty matrix.
int numerical_rank(const Eigen::Ref<const Eigen::MatrixXd>& M, double tol = 0.0);

// max_k rank(M[k:, :k]), k = 1..T-1 (0 when T = 1).
int semiseparable_rank(const Eigen::Ref<const Eigen::MatrixXd>& M, double tol = 0.0);

}  // namespace ssmlab::duality
