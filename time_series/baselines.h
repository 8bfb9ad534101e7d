// baselines.h — the model registry of exp_synthetic_ndecay.
//
// mamba_diag_exp and linear_rnn live in models.h. The Transformer (T_nope, T_alibi) and
// LSTM baselines come from the model library (models/, ssmlab_models), whose models are
// token-in/logits-out language models; a thin adapter here feeds them real-valued sequences
// (see baselines.cpp). They are available only when the build has ssmlab_models.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "time_series/models.h"

namespace ssmlab::time_series {

inline constexpr const char* kModelHelp = "mamba_diag_exp|linear_rnn|T_nope|T_alibi|lstm";

struct BuildOptions {
  int N = 2;                    // state size (mamba_diag_exp, linear_rnn), hidden size (lstm)
  int T = 100;                  // max sequence length (positional tables)
  bool selective = false;       // mamba_diag_exp
  std::string form = "kernel";  // mamba_diag_exp
  int width = 32;               // Transformer d_model
  int layers = 2;               // Transformer / LSTM layers
};

std::vector<std::string> all_model_names();
bool model_available(const std::string& name);  // false for library models when models/ is absent
bool model_uses_N(const std::string& name);     // the Transformers ignore N
std::shared_ptr<TsModelImpl> make_ts_model(const std::string& name, const BuildOptions& o);

}  // namespace ssmlab::time_series
