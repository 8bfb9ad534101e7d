// lm.h — the one interface every ssmlab language model implements.
//
// Design: LibTorch's TORCH_MODULE holders are not polymorphic, so the registry, the trainer, the
// generation loop (generation.h), the Hugging Face loader (hf/) and the experiment binaries talk to
// models through LanguageModelImpl, an abstract torch::nn::Module. Each family (MambaLMImpl,
// Mamba2LMImpl, TransformerLMImpl, LSTMLMImpl) derives from it.
//
// Incremental inference (prefill, then one token per step) goes through the same forward with an
// InferenceCache (inference_cache.h) that the model allocates: forward(tokens, cache) on an unused
// cache is the prefill, on a used one it continues from cache->seqlen_offset.
//
// Legend used in shape comments across models/ (docs/glossary.md):
//   B batch, L sequence length, D d_model, V vocabulary (padded where the family pads it),
//   E d_inner (= expand * D), N d_state, H heads, P head dim, G groups, K conv kernel.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "models/inference_cache.h"

namespace ssmlab::models {

class LanguageModelImpl : public torch::nn::Module {
 public:
  // tokens (B, L) int64 -> logits (B, L, V), causal: logits at t depend on tokens[0..t] only.
  torch::Tensor forward(const torch::Tensor& tokens) { return forward(tokens, nullptr); }
  // The same with an inference cache (nullptr = none): prefill or continuation, see above.
  virtual torch::Tensor forward(const torch::Tensor& tokens, InferenceCache* cache) = 0;
  // For continuous-input users (time series, the stride-memory hybrid's pooled vectors):
  // x (B, L, D) -> final hidden (B, L, D), after the final norm and before the LM head, with an
  // optional cache exactly as forward().
  torch::Tensor forward_features(const torch::Tensor& x) { return forward_features(x, nullptr); }
  virtual torch::Tensor forward_features(const torch::Tensor& x, InferenceCache* cache) = 0;
  // A cache for `batch` rows and up to `max_seqlen` slots, on the model's device.
  virtual InferenceCache new_cache(int64_t batch, int64_t max_seqlen) = 0;
  virtual int64_t d_model() const = 0;
  virtual int64_t vocab_size() const = 0;  // rows of the logits (padded vocabulary for Mamba)
  virtual std::string family() const = 0; // registry name: "T_rope", "mamba", "lstm", "gpt2", ...
  virtual int64_t max_positions() const { return -1; }  // -1: no position limit
  // An auxiliary training loss computed by the last forward (a scalar; the MoE load-balancing
  // loss), which the Trainer adds with TrainConfig::aux_loss_coef and logs as aux_loss beside
  // the LM loss. Undefined (the default) for models without one.
  virtual torch::Tensor aux_loss() const { return {}; }
  // True when a decode step (forward of tokens (B, 1) with a cache after its prefill, under NoGrad)
  // reads and writes only the cache's preallocated tensors and depends on no host value that changes
  // between steps, so one CUDA graph captured for one step replays every later step (generate() does
  // this on CUDA). Mamba and Mamba-2: yes. Transformers: no (the step's position and the KV slot it
  // writes are host integers); the LSTM: not checked, so no.
  virtual bool decode_step_graph_safe() const { return false; }

  // Device and dtype of the parameters (the first one).
  torch::Device device() const;
  torch::ScalarType dtype() const;
};
using LanguageModel = std::shared_ptr<LanguageModelImpl>;

// Number of trainable scalars (tied weights counted once).
int64_t count_params(const torch::nn::Module& m);

}  // namespace ssmlab::models
