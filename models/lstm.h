// lstm.h — LSTM language model: embedding -> stacked LSTM -> linear head.
//   i, f, g, o = σ, σ, tanh, σ (W x_t + U h_{t-1} + b);  c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
// Initialisation as in Jelassi et al.'s code: embedding U(±0.1), head weight U(±1/sqrt(D)), head bias 0.
#pragma once

#include <cstdint>
#include <tuple>

#include <torch/torch.h>

#include "lm.h"

namespace ssmlab::models {

struct LSTMLMOptions {
  LSTMLMOptions(int64_t d_model = 64, int64_t n_layer = 2, int64_t vocab_size = 32)
      : d_model_(d_model), n_layer_(n_layer), vocab_size_(vocab_size) {}
  TORCH_ARG(int64_t, d_model);      // embedding = hidden size D
  TORCH_ARG(int64_t, n_layer);
  TORCH_ARG(int64_t, vocab_size);   // V
  TORCH_ARG(double, dropout) = 0.0; // between LSTM layers (the paper's code: 0.65)
};

// (h, c), each (n_layer, B, D); undefined = zeros.
using LSTMState = std::tuple<torch::Tensor, torch::Tensor>;

class LSTMLMImpl : public LanguageModelImpl {
 public:
  explicit LSTMLMImpl(const LSTMLMOptions& o);
  torch::Tensor forward(const torch::Tensor& tokens) override { return forward(tokens, nullptr); }
  // tokens (B, L) -> logits (B, L, V); with a state, starts from it and stores the final one.
  torch::Tensor forward(const torch::Tensor& tokens, LSTMState* state);
  torch::Tensor forward_features(const torch::Tensor& x) override;  // (B, L, D) -> (B, L, D)
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
