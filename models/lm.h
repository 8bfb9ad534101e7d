// lm.h — the one interface every ssmlab language model implements.
//
// Design: LibTorch's TORCH_MODULE holders are not polymorphic, so the registry, the trainer and
// the experiment binaries talk to models through LanguageModelImpl, an abstract torch::nn::Module.
// Each family (MambaLMImpl, Mamba2LMImpl, TransformerLMImpl, LSTMLMImpl) derives from it and
// keeps its own richer API (inference state, KV cache, step()) on the concrete type.
//
// Legend used in shape comments across models/:
//   B batch, L sequence length, D d_model, V vocabulary (padded where the family pads it),
//   E d_inner (= expand * D), N state size, H heads, P head dim, G groups, K conv kernel.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

namespace ssmlab::models {

class LanguageModelImpl : public torch::nn::Module {
 public:
  // tokens (B, L) int64 -> logits (B, L, V), causal: logits at t depend on tokens[0..t] only.
  virtual torch::Tensor forward(const torch::Tensor& tokens) = 0;
  // For continuous-input users (time series): embeddings (B, L, D) -> final hidden (B, L, D),
  // after the final norm and before the LM head. Same causality guarantee.
  virtual torch::Tensor forward_features(const torch::Tensor& x) = 0;
  virtual int64_t d_model() const = 0;
  virtual int64_t vocab_size() const = 0;  // rows of the logits (padded vocabulary for Mamba)
  virtual std::string family() const = 0; // registry name: "T_rope", "mamba", "lstm", ...
};
using LanguageModel = std::shared_ptr<LanguageModelImpl>;

// Number of trainable scalars (tied weights counted once).
int64_t count_params(const torch::nn::Module& m);

}  // namespace ssmlab::models
