// lstm.h — LSTM language model: embedding -> stacked LSTM -> linear head.
//   i, f, g, o = σ, σ, tanh, σ (W x_t + U h_{t-1} + b);  c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
// Initialisation as in Jelassi et al.'s code: embedding U(±0.1), head weight U(±1/sqrt(D)), head bias 0.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "models/lm.h"

namespace ssmlab::models {

struct LSTMLMOptions {
  LSTMLMOptions(int64_t d_model = 64, int64_t n_layer = 2, int64_t vocab_size = 32)
      : d_model_(d_model), n_layer_(n_layer), vocab_size_(vocab_size) {}
  TORCH_ARG(int64_t, d_model);      // embedding = hidden size D
  TORCH_ARG(int64_t, n_layer);
  TORCH_ARG(int64_t, vocab_size);   // V
  TORCH_ARG(double, dropout) = 0.0; // between LSTM layers (the paper's code: 0.65)
};

// Parameter names: embedding.weight (V, D); lstm.{weight_ih,weight_hh,bias_ih,bias_hh}_l{i} (4D, D) /
// (4D); head.{weight,bias} (V, D) / (V). No transformers class exists: hf/ saves it with the
// ssmlab-only model_type "ssmlab_lstm".
class LSTMLMImpl : public LanguageModelImpl {
 public:
  explicit LSTMLMImpl(const LSTMLMOptions& o);
  using LanguageModelImpl::forward;
  using LanguageModelImpl::forward_features;
  // tokens (B, L) -> logits (B, L, V). With a cache: starts from its (h, c) (cache->layers[0]) and
  // stores the final one; left-pad slots of a prefill leave the state unchanged.
  torch::Tensor forward(const torch::Tensor& tokens, InferenceCache* cache) override;
  torch::Tensor forward_features(const torch::Tensor& x, InferenceCache* cache) override;  // (B, L, D) -> (B, L, D)
  InferenceCache new_cache(int64_t batch, int64_t max_seqlen) override;
  int64_t d_model() const override { return options.d_model(); }
  int64_t vocab_size() const override { return options.vocab_size(); }
  std::string family() const override { return "lstm"; }

  LSTMLMOptions options;
  torch::nn::Embedding embedding{nullptr};
  torch::nn::LSTM lstm{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(LSTMLM);

// V D (embedding) + n_layer (8 D^2 + 8 D) (LSTM: W, U and two biases per gate) + V D + V (head).
int64_t lstm_param_count(const LSTMLMOptions& o);

}  // namespace ssmlab::models
