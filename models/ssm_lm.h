// ssm_lm.h — the language-model shell that Mamba-1 (mamba.h) and Mamba-2 (mamba2.h) share; only the
// mixer differs.
//
//   tokens (B, L) -> embeddings (B, L, D) -> n_layer x [ x + mixer(RMSNorm(x)) ] -> RMSNorm -> logits
//   (B, L, V_pad) through the embedding matrix (tied) or a separate lm_head.
//
// Upstream: state-spaces/mamba mamba_ssm/models/mixer_seq_simple.py (MixerModel, MambaLMHeadModel)
// and mamba_ssm/modules/block.py (Block); the Mamba paper (Gu & Dao 2023), Section 3.4.
// Shape letters: docs/glossary.md (B batch, L length, D d_model, V vocabulary).
//
// Parameter names are transformers' MambaForCausalLM / Mamba2ForCausalLM (and state-spaces/mamba*
// checkpoints), so hf/ loads and saves them without renaming:
//   backbone.embeddings.weight          (V_pad, D)
//   backbone.layers.{i}.norm.weight     (D)             RMSNorm before the mixer
//   backbone.layers.{i}.mixer.*         the family's mixer (mamba.h, mamba2.h)
//   backbone.norm_f.weight              (D)
//   lm_head.weight                      (V_pad, D)      only when the head is not tied
// NOTE: the residual order is Norm -> Mixer -> Add per layer (numerically what upstream's fused
// Add -> Norm ordering computes), then a final RMSNorm.
//
// Inference (lm.h, inference_cache.h): an unused cache is filled by one parallel prefill (left-pad
// slots masked by the mixers), a used one continues one token at a time with the mixers' O(1) step.
// Errors: std::invalid_argument (naming the family) when the tokens do not fit in the cache's
// remaining slots; the mixers' own errors (their headers) pass through.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "models/inference_cache.h"
#include "models/lm.h"

namespace ssmlab::models {

// y = x / sqrt(mean(x^2) + eps) * weight, computed in fp32, returned in x's dtype.
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x);  // (..., dim) -> (..., dim)
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// The Δ bias initialisation both mixers use (mamba_simple.py, mamba2_simple.py): n values whose
// softplus is log-uniform in [dt_min, dt_max], floored at `floor` (the inverse softplus of dt is
// dt + log(-expm1(-dt))). fp32, on the CPU; draws from LibTorch's default generator.
torch::Tensor dt_bias_init(int64_t n, double dt_min, double dt_max, double floor);

// One residual layer as the shell drives it.
class SsmLayerImpl : public torch::nn::Module {
 public:
  // x (B, L, D) -> (B, L, D). With `state` (allocated by new_state): the prefill, which writes the
  // layer's state after x into it. `valid` (B, L) bool, optional: false on left-pad slots.
  virtual torch::Tensor forward(const torch::Tensor& x, LayerCache* state = nullptr, const torch::Tensor& valid = {}) = 0;
  // One token: x (B, D) -> (B, D), advancing `state` (O(1) in the sequence length).
  virtual torch::Tensor step(const torch::Tensor& x, LayerCache& state) = 0;
  // Sets the layer's zero state for `batch` rows on `device`.
  virtual void new_state(LayerCache& state, int64_t batch, const torch::Device& device) const = 0;
};

// x + mixer(norm(x)), the sum in fp32 when residual_in_fp32 (then cast back to x's dtype). MixerImpl
// is built from the family's options (which give d_model, norm_eps and residual_in_fp32) and has
// forward(x, LayerCache*, valid), step(x, LayerCache&) and new_state(state, batch, device).
template <class MixerImpl>
class ResidualLayerImpl final : public SsmLayerImpl {
 public:
  template <class Options>
  explicit ResidualLayerImpl(const Options& o) : residual_in_fp32(o.residual_in_fp32()) {
    norm = register_module("norm", RMSNorm(o.d_model(), o.norm_eps()));
    mixer = register_module("mixer", std::make_shared<MixerImpl>(o));
  }
  torch::Tensor forward(const torch::Tensor& x, LayerCache* state = nullptr, const torch::Tensor& valid = {}) override {
    return add(x, mixer->forward(norm(x), state, valid));
  }
  torch::Tensor step(const torch::Tensor& x, LayerCache& state) override { return add(x, mixer->step(norm(x), state)); }
  void new_state(LayerCache& state, int64_t batch, const torch::Device& device) const override {
    mixer->new_state(state, batch, device);
  }

  bool residual_in_fp32;
  RMSNorm norm{nullptr};
  std::shared_ptr<MixerImpl> mixer;

 private:
  torch::Tensor add(const torch::Tensor& x, const torch::Tensor& h) const {
    return (residual_in_fp32 ? x.to(torch::kFloat32) + h.to(torch::kFloat32) : x + h).to(x.scalar_type());
  }
};

// The sizes the shell needs (each family's options give them).
struct SsmShellOptions {
  int64_t d_model = 0;          // D
  int64_t n_layer = 0;
  int64_t padded_vocab = 0;     // V_pad: rows of the embedding and of the logits
  double norm_eps = 1e-5;       // of the final RMSNorm
  bool tie_embeddings = true;   // false: a separate lm_head.weight (V_pad, D)
};
using MakeSsmLayer = std::function<std::shared_ptr<SsmLayerImpl>()>;

// embeddings, layers (n_layer calls of make_layer, in order), norm_f.
class SsmBackboneImpl : public torch::nn::Module {
 public:
  SsmBackboneImpl(const SsmShellOptions& o, const MakeSsmLayer& make_layer);
  torch::nn::Embedding embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm_f{nullptr};
};
TORCH_MODULE(SsmBackbone);

// The LM: the backbone and the head. Families derive from it (MambaLMImpl, Mamba2LMImpl) and add their
// options and family() name.
class SsmLMImpl : public LanguageModelImpl {
 public:
  using LanguageModelImpl::forward;
  using LanguageModelImpl::forward_features;
  // tokens (B, L) -> logits (B, L, V_pad). With a cache: an unused one is filled by a parallel
  // prefill; a used one continues recurrently, one token at a time.
  torch::Tensor forward(const torch::Tensor& tokens, InferenceCache* cache) override;
  torch::Tensor forward_features(const torch::Tensor& x, InferenceCache* cache) override;  // (B, L, D) -> (B, L, D)
  InferenceCache new_cache(int64_t batch, int64_t max_seqlen) override;
  int64_t d_model() const override { return shell_.d_model; }
  int64_t vocab_size() const override { return shell_.padded_vocab; }
  // Every mixer's step updates conv_state/ssm_state in place under NoGrad (mamba.cpp, mamba2.cpp).
  bool decode_step_graph_safe() const override { return true; }
  torch::Tensor lm_head_weight() const;  // (V_pad, D)

  SsmBackbone backbone{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied

 protected:
  // Builds the backbone, then the untied head, and draws the embedding (and head) weights from
  // N(0, 0.02) (mixer_seq_simple._init_weights). `display_name` names the family in cache errors.
  SsmLMImpl(const SsmShellOptions& o, const MakeSsmLayer& make_layer, std::string display_name);

 private:
  torch::Tensor layers_forward(torch::Tensor h, InferenceCache* cache);  // (B, L, D) -> final hidden
  SsmShellOptions shell_;
  std::string display_name_;
};

}  // namespace ssmlab::models
