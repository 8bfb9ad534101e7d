// ts_baselines.cpp — registry of exp_synthetic_ndecay's models, and the adapter that runs the
// model library's sequence models on real-valued inputs.
#include "ts_baselines.h"

#include <stdexcept>

namespace ssmlab::ts {

std::vector<std::string> all_model_names() { return {"mamba_diag_exp", "linear_rnn", "T_nope", "T_alibi", "lstm"}; }

bool model_available(const std::string& name) {
  if (name == "mamba_diag_exp" || name == "linear_rnn") return true;
#ifdef SSMLAB_TS_HAVE_MODELS
  return true;
#else
  return false;
#endif
}

bool model_uses_N(const std::string& name) { return name != "T_nope" && name != "T_alibi"; }

std::shared_ptr<TsModelImpl> make_ts_model(const std::string& name, const BuildOptions& o) {
  if (name == "mamba_diag_exp") {
    DiagExpOptions d;
    d.N = o.N;
    d.selective = o.selective;
    d.form = o.form;
    return std::make_shared<MambaDiagExpImpl>(d);
  }
  if (name == "linear_rnn") return std::make_shared<LinearRnnImpl>(o.N);
  throw std::invalid_argument("model '" + name + "' is not available in this build");
}

}  // namespace ssmlab::ts
