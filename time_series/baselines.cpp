// baselines.cpp — registry of exp_synthetic_ndecay's models, and the adapter that runs the
// model library's sequence models on real-valued inputs.
#include "time_series/baselines.h"

#include <algorithm>
#include <stdexcept>

#ifdef SSMLAB_TS_HAVE_MODELS
#include "models/registry.h"
#endif

namespace ssmlab::time_series {

#ifdef SSMLAB_TS_HAVE_MODELS
// Adapter: a model-library sequence model on real-valued inputs.
//   x (B, T) -> in_proj -> (B, T, D) -> model.forward_features -> (B, T, D) -> out_proj -> ŷ (B, T)
// forward_features skips the token embedding and the LM head, keeps the model's causality.
class LibrarySeqRegressorImpl : public TsModelImpl {
 public:
  LibrarySeqRegressorImpl(const std::string& name, const models::ModelConfig& mc) {
    lm = register_module("lm", models::make_model(name, mc));
    in_proj = register_module("in_proj", torch::nn::Linear(1, lm->d_model()));
    out_proj = register_module("out_proj", torch::nn::Linear(lm->d_model(), 1));
  }
  // The library models run in float32 (their own default); inputs and outputs are cast here.
  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = in_proj->forward(x.to(in_proj->weight.dtype()).unsqueeze(-1));  // (B, T, D)
    h = lm->forward_features(h);                                             // (B, T, D)
    return out_proj->forward(h).squeeze(-1).to(x.dtype());                   // (B, T)
  }
  models::LanguageModel lm;
  torch::nn::Linear in_proj{nullptr}, out_proj{nullptr};
};
#endif

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
#ifdef SSMLAB_TS_HAVE_MODELS
  if (name == "T_nope" || name == "T_alibi" || name == "lstm") {
    models::ModelConfig mc;
    mc.vocab_size = 2;  // unused: the adapter bypasses the embedding and the head
    mc.n_layer = o.layers;
    mc.d_model = name == "lstm" ? o.N : o.width;  // the LSTM's hidden size plays the role of N
    mc.n_head = name == "lstm" ? 1 : std::max(1, o.width / 16);
    return std::make_shared<LibrarySeqRegressorImpl>(name, mc);
  }
#endif
  throw std::invalid_argument("model '" + name + "' is not available in this build");
}

}  // namespace ssmlab::time_series
