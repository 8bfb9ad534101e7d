// transformer.cpp — decoder-only Transformer with rope/nope/alibi/hard_alibi (see transformer.h).
#include "transformer.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace ssmlab::models {

namespace F = torch::nn::functional;

PosEncoding parse_pos_encoding(const std::string& s) {
  if (s == "rope") return PosEncoding::Rope;
  if (s == "nope") return PosEncoding::Nope;
  if (s == "alibi") return PosEncoding::Alibi;
  if (s == "hard_alibi") return PosEncoding::HardAlibi;
  throw std::invalid_argument("positional encoding must be rope, nope, alibi or hard_alibi (got '" + s + "')");
}

std::string to_string(PosEncoding p) {
  switch (p) {
    case PosEncoding::Rope: return "rope";
    case PosEncoding::Nope: return "nope";
    case PosEncoding::Alibi: return "alibi";
    case PosEncoding::HardAlibi: return "hard_alibi";
  }
  return "?";
}

int64_t TransformerOptions::rotary_dim() const {
  const int64_t rd = static_cast<int64_t>(static_cast<double>(head_dim()) * rotary_pct_) / 2 * 2;
  return std::min(rd, head_dim() / 2 * 2);
}

torch::Tensor alibi_slopes(int64_t n_head) {
  // MPT gen_slopes with alibi_bias_max = 8: H' = 2^ceil(log2 H), slope_k = 2^(-8k/H'), k = 1..H';
  // when H' != H take the odd-indexed slopes first, then the even ones, and keep H of them.
  int64_t hp = 1;
  while (hp < n_head) hp *= 2;
  auto m = torch::arange(1, hp + 1, torch::kFloat64) * (8.0 / static_cast<double>(hp));
  auto slopes = torch::pow(2.0, -m);                           // (H')
  if (hp != n_head)
    slopes = torch::cat({slopes.slice(0, 1, hp, 2), slopes.slice(0, 0, hp, 2)}).slice(0, 0, n_head);
  return slopes.to(torch::kFloat32);                           // (H)
}

torch::Tensor attention_bias(const TransformerOptions& o, int64_t Lq, int64_t Lk, int64_t offset,
                             const torch::TensorOptions& topts) {
  const int64_t H = o.n_head();
  auto f32 = topts.dtype(torch::kFloat32);
  auto qi = torch::arange(offset, offset + Lq, f32.dtype(torch::kLong)).unsqueeze(1);  // (Lq, 1)
  auto kj = torch::arange(0, Lk, f32.dtype(torch::kLong)).unsqueeze(0);                // (1, Lk)
  auto dist = (qi - kj).to(torch::kFloat32);                                           // (Lq, Lk): i - j
  const float ninf = -std::numeric_limits<float>::infinity();
  auto causal = torch::zeros({Lq, Lk}, f32).masked_fill(dist < 0, ninf);               // (Lq, Lk)
  auto bias = causal.unsqueeze(0).repeat({H, 1, 1});                                   // (H, Lq, Lk)
  if (o.pos() == PosEncoding::Alibi) {
    auto slopes = alibi_slopes(H).to(topts.device());                                  // (H)
    bias = bias - slopes.view({H, 1, 1}) * dist.clamp_min(0).unsqueeze(0);
  } else if (o.pos() == PosEncoding::HardAlibi) {
    const int64_t nm = std::min(o.masked_heads(), H);
    for (int64_t h = 0; h < nm; ++h) {
      const int64_t w = h < static_cast<int64_t>(o.windows().size()) ? o.windows()[h] : h + 1;
      bias[h].masked_fill_(dist >= static_cast<double>(w), ninf);                      // outside window
    }
  }
  return bias;
}

torch::Tensor apply_rope(const torch::Tensor& x, int64_t rotary_dim, double base, int64_t offset) {
  if (rotary_dim <= 0) return x;
  const int64_t L = x.size(2), half = rotary_dim / 2;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(x.device());
  auto inv_freq = 1.0 / torch::pow(base, torch::arange(0, rotary_dim, 2, f32) / static_cast<double>(rotary_dim));  // (rd/2)
  auto t = torch::arange(offset, offset + L, f32);                                     // (L)
  auto freqs = torch::outer(t, inv_freq);                                              // (L, rd/2)
  auto emb = torch::cat({freqs, freqs}, -1);                                           // (L, rd)
  auto cos = emb.cos(), sin = emb.sin();
  auto xr = x.narrow(-1, 0, rotary_dim).to(torch::kFloat32);                           // (B, H, L, rd)
  auto rot_half = torch::cat({-xr.narrow(-1, half, half), xr.narrow(-1, 0, half)}, -1);
  auto rotated = (xr * cos + rot_half * sin).to(x.scalar_type());
  if (rotary_dim == x.size(-1)) return rotated;
  return torch::cat({rotated, x.narrow(-1, rotary_dim, x.size(-1) - rotary_dim)}, -1);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias, AttnImpl impl) {
  auto mask = bias.unsqueeze(0).to(q.scalar_type());                                   // (1, H, Lq, Lk)
#if TORCH_VERSION_MAJOR >= 2
  if (impl != AttnImpl::Manual) return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false);
#else
  if (impl == AttnImpl::Sdpa)
    throw std::invalid_argument("attention: scaled_dot_product_attention needs LibTorch >= 2.0");
#endif
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale + mask;                 // (B, H, Lq, Lk)
  auto p = torch::softmax(scores.to(torch::kFloat32), -1).to(q.scalar_type());
  return torch::matmul(p, v);                                                          // (B, H, Lq, P)
}

// ---- modules ----------------------------------------------------------------------------
CausalSelfAttentionImpl::CausalSelfAttentionImpl(const TransformerOptions& o) : options(o) {
  if (o.d_model() % o.n_head() != 0)
    throw std::invalid_argument("Transformer: d_model " + std::to_string(o.d_model()) + " is not divisible by n_head " +
                                std::to_string(o.n_head()));
  qkv = register_module("qkv", torch::nn::Linear(o.d_model(), 3 * o.d_model()));
  out = register_module("out", torch::nn::Linear(o.d_model(), o.d_model()));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, KVCache* cache, int64_t layer) {
  const int64_t B = x.size(0), L = x.size(1), H = options.n_head(), P = options.head_dim();
  auto parts = qkv(x).view({B, L, 3, H, P}).permute({2, 0, 3, 1, 4});  // (3, B, H, L, P)
  auto q = parts[0], k = parts[1], v = parts[2];                       // (B, H, L, P)
  const int64_t offset = cache ? cache->offset : 0;
  if (options.pos() == PosEncoding::Rope) {
    q = apply_rope(q, options.rotary_dim(), options.rope_base(), offset);
    k = apply_rope(k, options.rotary_dim(), options.rope_base(), offset);
  }
  if (cache) {
    if (static_cast<int64_t>(cache->k.size()) <= layer) {
      cache->k.resize(layer + 1);
      cache->v.resize(layer + 1);
    }
    if (cache->k[layer].defined()) {
      k = torch::cat({cache->k[layer], k}, 2);                          // (B, H, T + L, P)
      v = torch::cat({cache->v[layer], v}, 2);
    }
    cache->k[layer] = k;
    cache->v[layer] = v;
  }
  auto bias = attention_bias(options, L, k.size(2), offset, x.options());  // (H, L, T + L)
  auto o = attention(q.contiguous(), k.contiguous(), v.contiguous(), bias, options.attn_impl());  // (B, H, L, P)
  return out(o.transpose(1, 2).reshape({B, L, H * P}));                 // (B, L, D)
}

TransformerBlockImpl::TransformerBlockImpl(const TransformerOptions& o) {
  auto ln_opts = torch::nn::LayerNormOptions({o.d_model()}).eps(o.ln_eps());
  ln1 = register_module("ln1", torch::nn::LayerNorm(ln_opts));
  attn = register_module("attn", CausalSelfAttention(o));
  ln2 = register_module("ln2", torch::nn::LayerNorm(ln_opts));
  fc1 = register_module("fc1", torch::nn::Linear(o.d_model(), o.ff()));
  fc2 = register_module("fc2", torch::nn::Linear(o.ff(), o.d_model()));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, KVCache* cache, int64_t layer) {
  auto h = x + attn->forward(ln1(x), cache, layer);                     // (B, L, D)
  return h + fc2(torch::gelu(fc1(ln2(h))));
}

TransformerLMImpl::TransformerLMImpl(const TransformerOptions& o) : options(o) {
  wte = register_module("wte", torch::nn::Embedding(o.vocab_size(), o.d_model()));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.n_layer(); ++i) blocks->push_back(TransformerBlock(o));
  ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model()}).eps(o.ln_eps())));
  if (!o.tie_embeddings())
    head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), o.vocab_size()).bias(false)));
  // GPT-NeoX / GPT-2 initialisation: N(0, 0.02) weights, zero biases.
  torch::NoGradGuard ng;
  for (auto& p : named_parameters()) {
    const auto& name = p.key();
    if (name.find("ln") != std::string::npos) continue;  // LayerNorms keep (1, 0)
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) p.value().zero_();
    else p.value().normal_(0.0, 0.02);
  }
}

torch::Tensor TransformerLMImpl::forward_features(const torch::Tensor& x) {
  auto h = x;                                                          // (B, L, D)
  for (const auto& b : *blocks) h = b->as<TransformerBlockImpl>()->forward(h);
  return ln_f(h);
}

torch::Tensor TransformerLMImpl::forward(const torch::Tensor& tokens, KVCache* cache) {
  auto h = wte(tokens);                                                // (B, L, D)
  int64_t i = 0;
  for (const auto& b : *blocks) h = b->as<TransformerBlockImpl>()->forward(h, cache, i++);
  if (cache) cache->offset += tokens.size(1);
  h = ln_f(h);
  return head ? head(h) : F::linear(h, wte->weight);                   // (B, L, V)
}

int64_t transformer_param_count(const TransformerOptions& o) {
  const int64_t D = o.d_model(), Fd = o.ff(), V = o.vocab_size();
  const int64_t per_layer = 2 * D + (3 * D * D + 3 * D) + (D * D + D) + 2 * D + (D * Fd + Fd) + (Fd * D + D);
  return V * D + o.n_layer() * per_layer + 2 * D + (o.tie_embeddings() ? 0 : V * D);
}

}  // namespace ssmlab::models
