// softmax.h — softmax attention matrices (the negative control: not low semiseparable rank).
#pragma once

#include <Eigen/Dense>

namespace ssmlab::duality {

// Causal softmax attention matrix, numerically stable (row max subtracted before exp):
//   S[t,s] = exp(q_t·k_s/√d − m_t) / Σ_{s'≤t} exp(q_t·k_{s'}/√d − m_t)  for s ≤ t, 0 for s > t,
//   m_t = max_{s≤t} q_t·k_s/√d.
//   Qm, Km: (T×d)   S: (T×T)
void causal_softmax_attention(const Eigen::Ref<const Eigen::MatrixXd>& Qm, const Eigen::Ref<const Eigen::MatrixXd>& Km,
                              Eigen::Ref<Eigen::MatrixXd> S);

// Same without the causal mask (every row normalised over all T keys).
void softmax_attention(const Eigen::Ref<const Eigen::MatrixXd>& Qm, const Eigen::Ref<const Eigen::MatrixXd>& Km,
                       Eigen::Ref<Eigen::MatrixXd> S);

}  // namespace ssmlab::duality
