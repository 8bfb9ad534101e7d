// ssm_lm.cpp — the SSM language-model shell (ssm_lm.h).
#include "models/ssm_lm.h"

#include <cmath>
#include <utility>
#include <vector>

namespace ssmlab::models {

namespace F = torch::nn::functional;

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat32);
  auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);  // (..., dim)
  return (y * weight.to(torch::kFloat32)).to(x.scalar_type());
}

torch::Tensor dt_bias_init(int64_t n, double dt_min, double dt_max, double floor) {
  auto dt = torch::exp(torch::rand({n}, torch::kFloat64) * (std::log(dt_max) - std::log(dt_min)) + std::log(dt_min));
  dt = dt.clamp_min(floor);
  return (dt + torch::log(-torch::expm1(-dt))).to(torch::kFloat32);
}

SsmBackboneImpl::SsmBackboneImpl(const SsmShellOptions& o, const MakeSsmLayer& make_layer) {
  embeddings = register_module("embeddings", torch::nn::Embedding(o.padded_vocab, o.d_model));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.n_layer; ++i) layers->push_back(make_layer());
  norm_f = register_module("norm_f", RMSNorm(o.d_model, o.norm_eps));
}

SsmLMImpl::SsmLMImpl(const SsmShellOptions& o, const MakeSsmLayer& make_layer, std::string display_name)
    : shell_(o), display_name_(std::move(display_name)) {
  backbone = register_module("backbone", SsmBackbone(o, make_layer));
  if (!o.tie_embeddings)
    lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.padded_vocab).bias(false)));
  torch::NoGradGuard ng;
  backbone->embeddings->weight.normal_(0.0, 0.02);
  if (lm_head) lm_head->weight.normal_(0.0, 0.02);
}

torch::Tensor SsmLMImpl::lm_head_weight() const { return lm_head ? lm_head->weight : backbone->embeddings->weight; }

InferenceCache SsmLMImpl::new_cache(int64_t batch, int64_t max_seqlen) {
  auto& layers = backbone->layers;
  auto c = InferenceCache::allocate(batch, max_seqlen, static_cast<int64_t>(layers->size()), device());
  int64_t i = 0;
  for (const auto& m : *layers) m->as<SsmLayerImpl>()->new_state(c.layers[i++], batch, device());
  return c;
}

torch::Tensor SsmLMImpl::layers_forward(torch::Tensor h, InferenceCache* cache) {
  auto& layers = backbone->layers;
  const int64_t L = h.size(1);
  if (cache) cache->check_room(L, display_name_.c_str());
  if (cache && cache->seqlen_offset > 0) {  // continuation: one token at a time through every layer
    std::vector<torch::Tensor> outs;
    for (int64_t t = 0; t < L; ++t) {
      auto x = h.select(1, t);                                              // (B, D)
      int64_t i = 0;
      for (const auto& m : *layers) x = m->as<SsmLayerImpl>()->step(x, cache->layers[i++]);
      outs.push_back(x);
    }
    cache->seqlen_offset += L;
    return backbone->norm_f(torch::stack(outs, 1));                         // (B, L, D)
  }
  torch::Tensor valid = cache && cache->has_padding() ? cache->valid_mask(L) : torch::Tensor();  // (B, L)
  int64_t i = 0;
  for (const auto& m : *layers) {
    h = m->as<SsmLayerImpl>()->forward(h, cache ? &cache->layers[i] : nullptr, valid);
    ++i;
  }
  if (cache) cache->seqlen_offset += L;
  return backbone->norm_f(h);                                               // (B, L, D)
}

torch::Tensor SsmLMImpl::forward_features(const torch::Tensor& x, InferenceCache* cache) { return layers_forward(x, cache); }

torch::Tensor SsmLMImpl::forward(const torch::Tensor& tokens, InferenceCache* cache) {
  auto h = layers_forward(backbone->embeddings(tokens), cache);  // (B, L, D)
  return F::linear(h, lm_head_weight());                          // (B, L, V_pad)
}

}  // namespace ssmlab::models
