// recurrence.h — the two faces of one linear SSM: the O(T) recurrence and the T×T kernel.
//
// Design: header-only, so the hot loops inline into their callers (and a test can compile them
// under EIGEN_RUNTIME_NO_MALLOC). Every function writes into caller-owned buffers; nothing here
// allocates. Kernels are built without pow(): the Toeplitz first column comes from repeated
// multiplication, the time-varying products ∏ A_k from a running product down each column.
//
// Legend (SSD paper, Dao & Gu 2024, §3):
//   T  sequence length (t = row / output time, s = column / input time, s ≤ t)
//   N  state size (diagonal A, one decay per state)
//   x  (T) input, y (T) output (one channel; the SSM is single-input single-output)
// Time-invariant diagonal SSM:   h_t = a ∘ h_{t-1} + B x_t,      y_t = C · h_t
//   kernel M[t,s] = Σ_m C_m B_m a_m^{t-s}            (N-semiseparable, Toeplitz)
// Time-varying diagonal SSM:     h_t = A_t ∘ h_{t-1} + B_t x_t,  y_t = C_t · h_t
//   kernel M[t,s] = Σ_m C_t[m] (∏_{k=s+1}^{t} A_k[m]) B_s[m]
// Time-varying parameters are stored N×T (column t = step t), so each step reads contiguous memory.
#pragma once

#include <Eigen/Dense>

namespace ssmlab::duality {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::Ref;
using Eigen::VectorXd;

// ---- time-invariant --------------------------------------------------------------------

// Scalar SSM h_t = a h_{t-1} + b x_t, y_t = c h_t, h_{-1} = 0.   x, y: (T)
inline void scalar_recurrence(double a, double b, double c, const Ref<const VectorXd>& x, Ref<VectorXd> y) {
  double h = 0.0;
  for (Index t = 0; t < x.size(); ++t) {
    h = a * h + b * x[t];
    y[t] = c * h;
  }
}

// Lower-triangular Toeplitz matrix from its first column: M[t,s] = k[t-s] (s ≤ t), 0 above.
//   k: (T), M: (T×T)
inline void toeplitz_lower(const Ref<const VectorXd>& k, Ref<MatrixXd> M) {
  const Index T = k.size();
  for (Index s = 0; s < T; ++s) {
    M.col(s).head(s).setZero();
    M.col(s).tail(T - s) = k.head(T - s);
  }
}

// First column of the diagonal SSM kernel, k[τ] = Σ_m C_m B_m a_m^τ (τ = 0..T-1).
//   a, B, C: (N)   k: (T)   p: (N) scratch
inline void diagonal_kernel_column(const Ref<const VectorXd>& a, const Ref<const VectorXd>& B,
                                   const Ref<const VectorXd>& C, Ref<VectorXd> k, Ref<VectorXd> p) {
  p.array() = C.array() * B.array();  // C_m B_m a_m^0
  for (Index tau = 0; tau < k.size(); ++tau) {
    k[tau] = p.sum();
    p.array() *= a.array();  // a_m^{τ+1}, by multiplication
  }
}

// 1-semiseparable kernel of the scalar SSM: M[t,s] = c b a^{t-s}.   M: (T×T), k: (T) scratch
inline void scalar_kernel(double a, double b, double c, Ref<MatrixXd> M, Ref<VectorXd> k) {
  double p = c * b;
  for (Index tau = 0; tau < k.size(); ++tau, p *= a) k[tau] = p;
  toeplitz_lower(k, M);
}

// Diagonal SSM recurrence, vectorised across the N states.
//   a, B, C: (N)   x, y: (T)   h: (N) state buffer (zeroed here)
inline void diagonal_recurrence(const Ref<const VectorXd>& a, const Ref<const VectorXd>& B,
                                const Ref<const VectorXd>& C, const Ref<const VectorXd>& x,
                                Ref<VectorXd> y, Ref<VectorXd> h) {
  h.setZero();
  for (Index t = 0; t < x.size(); ++t) {
    h.array() = a.array() * h.array() + B.array() * x[t];  // h_t = a ∘ h_{t-1} + B x_t
    y[t] = C.dot(h);                                        // y_t = C · h_t
  }
}

// Diagonal SSM kernel M = Σ_m C_m B_m a_m^{t-s} (lower-triangular Toeplitz).
//   M: (T×T)   k: (T), p: (N) scratch
inline void diagonal_kernel(const Ref<const VectorXd>& a, const Ref<const VectorXd>& B, const Ref<const VectorXd>& C,
                            Ref<MatrixXd> M, Ref<VectorXd> k, Ref<VectorXd> p) {
  diagonal_kernel_column(a, B, C, k, p);
  toeplitz_lower(k, M);
}

// ---- time-varying ----------------------------------------------------------------------

// Time-varying diagonal recurrence.   A, B, C: (N×T)   x, y: (T)   h: (N) state buffer
inline void timevarying_recurrence(const Ref<const MatrixXd>& A, const Ref<const MatrixXd>& B,
                                   const Ref<const MatrixXd>& C, const Ref<const VectorXd>& x,
                                   Ref<VectorXd> y, Ref<VectorXd> h) {
  h.setZero();
  for (Index t = 0; t < x.size(); ++t) {
    h.array() = A.col(t).array() * h.array() + B.col(t).array() * x[t];  // h_t = A_t ∘ h_{t-1} + B_t x_t
    y[t] = C.col(t).dot(h);                                              // y_t = C_t · h_t
  }
}

// Time-varying kernel M[t,s] = C_t · (∏_{k=s+1}^{t} A_k ∘ B_s), by a running product down each
// column (no division, no logs: exact for any sign of A, including zeros).
//   A, B, C: (N×T)   M: (T×T)   v: (N) scratch
inline void timevarying_kernel(const Ref<const MatrixXd>& A, const Ref<const MatrixXd>& B,
                               const Ref<const MatrixXd>& C, Ref<MatrixXd> M, Ref<VectorXd> v) {
  const Index T = A.cols();
  for (Index s = 0; s < T; ++s) {
    M.col(s).head(s).setZero();
    v = B.col(s);                   // ∏ over an empty range = 1
    M(s, s) = C.col(s).dot(v);
    for (Index t = s + 1; t < T; ++t) {
      v.array() *= A.col(t).array();  // ∏_{k=s+1}^{t} A_k ∘ B_s
      M(t, s) = C.col(t).dot(v);
    }
  }
}

}  // namespace ssmlab::duality
