// lstm.cpp — the LSTM language model (lstm.h).
#include "models/lstm.h"

#include <cmath>
#include <stdexcept>

namespace ssmlab::models {

LSTMLMImpl::LSTMLMImpl(const LSTMLMOptions& o) : options(o) {
  embedding = register_module("embedding", torch::nn::Embedding(o.vocab_size(), o.d_model()));
  lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(o.d_model(), o.d_model())
                                                      .num_layers(o.n_layer())
                                                      .batch_first(true)
                                                      .dropout(o.n_layer() > 1 ? o.dropout() : 0.0)));
  head = register_module("head", torch::nn::Linear(o.d_model(), o.vocab_size()));
  torch::NoGradGuard ng;
  embedding->weight.uniform_(-0.1, 0.1);
  const double r = 1.0 / std::sqrt(static_cast<double>(o.d_model()));
  head->weight.uniform_(-r, r);
  head->bias.zero_();
}

InferenceCache LSTMLMImpl::new_cache(int64_t batch, int64_t max_seqlen) {
  auto c = InferenceCache::allocate(batch, max_seqlen, /*n_layers=*/1, device());  // all layers in layers[0]
  auto topts = torch::TensorOptions().device(device()).dtype(dtype());
  c.layers[0].h = torch::zeros({options.n_layer(), batch, options.d_model()}, topts);  // (n_layer, B, D)
  c.layers[0].c = torch::zeros_like(c.layers[0].h);
  return c;
}

torch::Tensor LSTMLMImpl::forward_features(const torch::Tensor& x, InferenceCache* cache) {
  if (!cache) return std::get<0>(lstm->forward(x));                   // (B, L, D)
  const int64_t L = x.size(1);
  cache->check_room(L, "LSTM");
  auto& st = cache->layers[0];
  torch::Tensor out;
  if (cache->has_padding() && cache->seqlen_offset == 0) {
    // Left-padded prefill: one step at a time, keeping (h, c) where the slot is a pad.
    auto valid = cache->valid_mask(L);                                 // (B, L)
    std::vector<torch::Tensor> outs;
    auto h = st.h, c = st.c;
    for (int64_t t = 0; t < L; ++t) {
      auto r = lstm->forward(x.narrow(1, t, 1), std::make_tuple(h, c));
      auto keep = valid.select(1, t).view({1, -1, 1});                 // (1, B, 1)
      h = torch::where(keep, std::get<0>(std::get<1>(r)), h);
      c = torch::where(keep, std::get<1>(std::get<1>(r)), c);
      outs.push_back(std::get<0>(r));                                  // (B, 1, D)
    }
    st.h.copy_(h);
    st.c.copy_(c);
    out = torch::cat(outs, 1);
  } else {
    auto r = lstm->forward(x, std::make_tuple(st.h, st.c));
    st.h.copy_(std::get<0>(std::get<1>(r)));
    st.c.copy_(std::get<1>(std::get<1>(r)));
    out = std::get<0>(r);                                              // (B, L, D)
  }
  cache->seqlen_offset += L;
  return out;
}

torch::Tensor LSTMLMImpl::forward(const torch::Tensor& tokens, InferenceCache* cache) {
  return head(forward_features(embedding(tokens), cache));            // (B, L, V)
}

int64_t lstm_param_count(const LSTMLMOptions& o) {
  const int64_t D = o.d_model(), V = o.vocab_size();
  return V * D + o.n_layer() * (8 * D * D + 8 * D) + V * D + V;
}


}  // namespace ssmlab::models
