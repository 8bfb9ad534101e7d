// ssd.h — chunked state-space duality (the Mamba-2 block decomposition, SSD paper §6 / ssd_minimal).
//
// Design: the sequence is cut into chunks of length Q (the last one may be shorter). Inside a
// chunk the output is the quadratic, attention-like form G x (G = the chunk's own Q×Q kernel
// block); between chunks only the N-vector state h travels, as in the recurrence. Cost O(T·Q·N)
// instead of O(T²·N) for the full kernel and O(T·N) for the recurrence.
// NOTE: ssd_minimal has a scalar A per head and builds the intra-chunk decays with exp(segsum);
// here A is diagonal (one decay per state, any sign, zeros allowed), so the decays come from a
// running product per column, which needs no logs and no division.
//
// Steps per chunk c = [c0, c0+q) (numbered as in ssd_minimal):
//   1. diagonal block:  G[i,j] = C_i · (∏_{k=j+1}^{i} A_k ∘ B_j) (j ≤ i),   y_c  = G x_c
//   2. chunk state:     h_c   = Σ_j (∏_{k=j+1}^{c0+q-1} A_k ∘ B_j) x_j        (from zero)
//   3. state passing:   h     ← P_{q-1} ∘ h + h_c, with P_i = ∏_{k=c0}^{c0+i} A_k
//   4. off-diagonal:    y_c  += (C_c ∘ P)ᵀ h_in                              (state entering c)
#pragma once

#include <algorithm>
#include <stdexcept>

#include "duality/recurrence.h"

namespace ssmlab::duality {

// Buffers for ssd_chunked, sized once for (N, Q).
struct ChunkWorkspace {
  MatrixXd G;      // (Q×Q) intra-chunk kernel block
  MatrixXd P;      // (N×Q) cumulative decay from the chunk start, then C ∘ P
  VectorXd h;      // (N) state entering the chunk
  VectorXd h_c;    // (N) state produced inside the chunk
  VectorXd v;      // (N) running product
  void resize(Index N, Index Q) {
    G.resize(Q, Q);
    P.resize(N, Q);
    h.resize(N);
    h_c.resize(N);
    v.resize(N);
  }
};

// y = chunked SSD of the time-varying diagonal SSM.   A, B, C: (N×T)   x, y: (T)   Q >= 1
inline void ssd_chunked(const Ref<const MatrixXd>& A, const Ref<const MatrixXd>& B, const Ref<const MatrixXd>& C,
                        const Ref<const VectorXd>& x, Index Q, Ref<VectorXd> y, ChunkWorkspace& w) {
  if (Q < 1) throw std::invalid_argument("ssd_chunked: chunk length Q must be >= 1");
  const Index N = A.rows(), T = A.cols();
  if (w.G.rows() < std::min(Q, T) || w.P.rows() != N) w.resize(N, std::min(Q, T));
  w.h.setZero();
  for (Index c0 = 0; c0 < T; c0 += Q) {
    const Index q = std::min(Q, T - c0);
    auto Ac = A.middleCols(c0, q);   // (N×q)
    auto Bc = B.middleCols(c0, q);   // (N×q)
    auto Cc = C.middleCols(c0, q);   // (N×q)
    auto xc = x.segment(c0, q);      // (q)
    auto yc = y.segment(c0, q);      // (q)
    auto G = w.G.topLeftCorner(q, q);
    // 1 + 2. diagonal block and the chunk's own state, one running product per input step j
    w.h_c.setZero();
    for (Index j = 0; j < q; ++j) {
      G.col(j).head(j).setZero();
      w.v = Bc.col(j);
      G(j, j) = Cc.col(j).dot(w.v);
      for (Index i = j + 1; i < q; ++i) {
        w.v.array() *= Ac.col(i).array();
        G(i, j) = Cc.col(i).dot(w.v);
      }
      w.h_c.noalias() += xc[j] * w.v;  // w.v = ∏_{k=j+1}^{q-1} A_k ∘ B_j
    }
    yc.noalias() = G.triangularView<Eigen::Lower>() * xc;
    // P_i = ∏_{k=c0}^{c0+i} A_k: the decay the entering state sees at step c0+i
    auto P = w.P.leftCols(q);
    P.col(0) = Ac.col(0);
    for (Index i = 1; i < q; ++i) P.col(i).array() = P.col(i - 1).array() * Ac.col(i).array();
    // 3. state passing (uses P before it is overwritten)
    w.v.array() = P.col(q - 1).array() * w.h.array();
    // 4. off-diagonal block: y_c += (C_c ∘ P)ᵀ h_in
    P.array() *= Cc.array();
    yc.noalias() += P.transpose() * w.h;
    w.h = w.v + w.h_c;
  }
}

}  // namespace ssmlab::duality
