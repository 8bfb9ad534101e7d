// softmax.cpp — see softmax.h.
#include "duality/softmax.h"

#include <cmath>

namespace ssmlab::duality {

namespace {
// Row-wise stable softmax of the scores in S, over columns [0, len(t)).
template <class Len>
void softmax_rows(Eigen::Ref<Eigen::MatrixXd> S, Len len) {
  for (Eigen::Index t = 0; t < S.rows(); ++t) {
    const Eigen::Index n = len(t);
    auto row = S.row(t).head(n);
    row.array() = (row.array() - row.maxCoeff()).exp();  // ≤ 1: no overflow
    row /= row.sum();
    S.row(t).tail(S.cols() - n).setZero();
  }
}
}  // namespace

void causal_softmax_attention(const Eigen::Ref<const Eigen::MatrixXd>& Qm, const Eigen::Ref<const Eigen::MatrixXd>& Km,
                              Eigen::Ref<Eigen::MatrixXd> S) {
  S.noalias() = Qm * Km.transpose();                     // (T×T) scores q_t·k_s
  S /= std::sqrt(static_cast<double>(Qm.cols()));
  softmax_rows(S, [](Eigen::Index t) { return t + 1; });  // keys s ≤ t
}

void softmax_attention(const Eigen::Ref<const Eigen::MatrixXd>& Qm, const Eigen::Ref<const Eigen::MatrixXd>& Km,
                       Eigen::Ref<Eigen::MatrixXd> S) {
  S.noalias() = Qm * Km.transpose();
  S /= std::sqrt(static_cast<double>(Qm.cols()));
  const Eigen::Index T = S.cols();
  softmax_rows(S, [T](Eigen::Index) { return T; });
}

}  // namespace ssmlab::duality
