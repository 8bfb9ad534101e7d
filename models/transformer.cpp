// transformer.cpp — the decoder-only Transformer (see transformer.h).
#include "models/transformer.h"

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
  if (s == "learned") return PosEncoding::Learned;
  throw std::invalid_argument("positional encoding must be rope, nope, alibi, hard_alibi or learned (got '" + s + "')");
}

std::string to_string(PosEncoding p) {
  switch (p) {
    case PosEncoding::Rope: return "rope";
    case PosEncoding::Nope: return "nope";
    case PosEncoding::Alibi: return "alibi";
    case PosEncoding::HardAlibi: return "hard_alibi";
    case PosEncoding::Learned: return "learned";
  }
  return "?";
}

Activation parse_activation(const std::string& s) {
  if (s == "gelu") return Activation::Gelu;
  if (s == "gelu_new" || s == "gelu_fast" || s == "gelu_pytorch_tanh" || s == "gelu_tanh") return Activation::GeluTanh;
  if (s == "relu") return Activation::Relu;
  if (s == "silu" || s == "swish") return Activation::Silu;
  throw std::invalid_argument("unsupported activation '" + s + "' (gelu, gelu_new, gelu_fast, gelu_pytorch_tanh, relu, silu)");
}

std::string to_string(Activation a) {
  switch (a) {
    case Activation::Gelu: return "gelu";
    case Activation::GeluTanh: return "gelu_new";
    case Activation::Relu: return "relu";
    case Activation::Silu: return "silu";
  }
  return "?";
}

int64_t TransformerOptions::rotary_ndims() const {
  if (pos_ != PosEncoding::Rope) return 0;
  return static_cast<int64_t>(static_cast<double>(head_dim()) * rotary_pct_);  // Python int(): toward zero
}

void TransformerOptions::validate() const {
  auto bad = [](const std::string& m) { throw std::invalid_argument("Transformer: " + m); };
  if (d_model_ < 1 || n_layer_ < 1 || n_head_ < 1 || vocab_size_ < 1)
    bad("d_model, n_layer, n_head and vocab_size must be positive");
  if (d_model_ % n_head_ != 0)
    bad("d_model " + std::to_string(d_model_) + " is not divisible by n_head " + std::to_string(n_head_));
  if (rotary_pct_ < 0.0 || rotary_pct_ > 1.0) bad("rotary_pct must be in [0, 1]");
  if (rotated_dims() > head_dim())
    bad("rotary_pct " + std::to_string(rotary_pct_) + " rotates " + std::to_string(rotated_dims()) +
        " dims of a head of " + std::to_string(head_dim()));
  if (pos_ == PosEncoding::Learned && max_position_embeddings_ < 1) bad("learned positions need max_position_embeddings >= 1");
  if (!(ln_eps_ > 0.0)) bad("layer norm eps must be positive");
  if (!(dropout_ >= 0.0 && dropout_ < 1.0)) bad("dropout must be in [0, 1)");
  if (n_experts_ < 0) bad("n_experts must be >= 0 (0 = dense MLP)");
  if (n_experts_ > 0 && (top_k_ < 1 || top_k_ > n_experts_))
    bad("top_k " + std::to_string(top_k_) + " must be in [1, n_experts = " + std::to_string(n_experts_) + "]");
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

std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& positions, int64_t rd, double base) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(positions.device());
  auto inv_freq = 1.0 / torch::pow(base, torch::arange(0, rd, 2, torch::TensorOptions().dtype(torch::kLong).device(positions.device()))
                                             .to(torch::kFloat32) / static_cast<double>(rd));  // (ceil(rd/2))
  auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq;                 // (..., L, R/2)
  auto emb = torch::cat({freqs, freqs}, -1);                                           // (..., L, R)
  auto cos = emb.cos(), sin = emb.sin();
  if (positions.dim() == 2) return {cos.unsqueeze(1), sin.unsqueeze(1)};              // (B, 1, L, R)
  (void)f32;
  return {cos, sin};                                                                   // (L, R)
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t R = cos.size(-1), half = R / 2;
  auto xr = x.narrow(-1, 0, R).to(torch::kFloat32);                                    // (B, H, L, R)
  auto rot_half = torch::cat({-xr.narrow(-1, half, half), xr.narrow(-1, 0, half)}, -1);
  auto rotated = (xr * cos + rot_half * sin).to(x.scalar_type());
  if (R == x.size(-1)) return rotated;
  return torch::cat({rotated, x.narrow(-1, R, x.size(-1) - R)}, -1);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask_in, AttnImpl impl) {
  const int64_t Lq = q.size(2), Lk = k.size(2);
  const bool plain_causal = !mask_in.defined();
  if (plain_causal && Lq != Lk && Lq != 1)
    throw std::invalid_argument("attention: an undefined mask means causal with Lq == Lk or Lq == 1 (got Lq " +
                                std::to_string(Lq) + ", Lk " + std::to_string(Lk) + ")");
#if TORCH_VERSION_MAJOR >= 2
  if (impl != AttnImpl::Manual) {
    if (plain_causal) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/Lq > 1);
    return at::scaled_dot_product_attention(q, k, v, mask_in.to(q.scalar_type()), 0.0, false);
  }
#else
  if (impl == AttnImpl::Sdpa)
    throw std::invalid_argument("attention: scaled_dot_product_attention needs LibTorch >= 2.0");
#endif
  torch::Tensor mask = mask_in;                                                        // (1|B, H, Lq, Lk)
  if (plain_causal) {
    auto lo = q.options().dtype(torch::kLong);
    auto qi = torch::arange(Lk - Lq, Lk, lo).unsqueeze(1), kj = torch::arange(0, Lk, lo).unsqueeze(0);
    mask = torch::zeros({Lq, Lk}, q.options().dtype(torch::kFloat32))
               .masked_fill(kj > qi, -std::numeric_limits<float>::infinity());      // (Lq, Lk)
  }
  mask = mask.to(q.scalar_type());
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale + mask;                 // (B, H, Lq, Lk)
  auto p = torch::softmax(scores.to(torch::kFloat32), -1).to(q.scalar_type());
  return torch::matmul(p, v);                                                          // (B, H, Lq, P)
}

torch::Tensor activate(const torch::Tensor& x, Activation a) {
  switch (a) {
    case Activation::Gelu: return torch::gelu(x);
    case Activation::GeluTanh:  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), transformers' NewGELUActivation
      return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * torch::pow(x, 3.0))));
    case Activation::Relu: return torch::relu(x);
    case Activation::Silu: return torch::silu(x);
  }
  return x;
}

// ---- modules ----------------------------------------------------------------------------
TransformerAttentionImpl::TransformerAttentionImpl(const TransformerOptions& o) : options(o) {
  o.validate();
  const int64_t D = o.d_model();
  query_key_value = register_module("query_key_value", torch::nn::Linear(torch::nn::LinearOptions(D, 3 * D).bias(o.attention_bias())));
  dense = register_module("dense", torch::nn::Linear(torch::nn::LinearOptions(D, D).bias(o.attention_bias())));
}

torch::Tensor TransformerAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                                const torch::Tensor& mask, LayerCache* cache, int64_t offset) {
  const int64_t B = x.size(0), L = x.size(1), H = options.n_head(), P = options.head_dim();
  auto qkv = query_key_value(x).view({B, L, H, 3, P});                 // per head q|k|v (GPT-NeoX layout)
  auto q = qkv.select(3, 0).transpose(1, 2);                           // (B, H, L, P)
  auto k = qkv.select(3, 1).transpose(1, 2);
  auto v = qkv.select(3, 2).transpose(1, 2);
  if (cos.defined()) {
    q = apply_rope(q, cos, sin);
    k = apply_rope(k, cos, sin);
  }
  if (cache && cache->k.defined()) {                                   // fixed buffers, written in place
    cache->k.narrow(2, offset, L).copy_(k);
    cache->v.narrow(2, offset, L).copy_(v);
    k = cache->k.narrow(2, 0, offset + L);                             // (B, H, S, P)
    v = cache->v.narrow(2, 0, offset + L);
  }
  auto o = attention(q.contiguous(), k.contiguous(), v.contiguous(), mask, options.attn_impl());  // (B, H, L, P)
  return dense(o.transpose(1, 2).reshape({B, L, H * P}));              // (B, L, D)
}

TransformerMLPImpl::TransformerMLPImpl(const TransformerOptions& o) : act(o.activation()) {
  dense_h_to_4h = register_module("dense_h_to_4h", torch::nn::Linear(o.d_model(), o.ff()));
  dense_4h_to_h = register_module("dense_4h_to_h", torch::nn::Linear(o.ff(), o.d_model()));
}

torch::Tensor TransformerMLPImpl::forward(const torch::Tensor& x) { return dense_4h_to_h(activate(dense_h_to_4h(x), act)); }

// ---- sparse mixture-of-experts MLP --------------------------------------------------------------
Routing route_top_k(const torch::Tensor& logits, int64_t top_k) {
  Routing r;
  r.probs = torch::softmax(logits.to(torch::kFloat32), -1);                      // (T, X)
  auto [p_top, idx] = r.probs.topk(top_k, -1);                                    // (T, k), (T, k)
  r.weights = p_top / p_top.sum(-1, /*keepdim=*/true);                            // (T, k), rows sum to 1
  r.experts = idx;
  return r;
}

torch::Tensor load_balancing_loss(const Routing& r) {
  const int64_t X = r.probs.size(-1);
  auto assigned = torch::zeros({X}, r.probs.options())
                      .index_add(0, r.experts.reshape(-1), torch::ones({r.experts.numel()}, r.probs.options()));  // (X)
  auto f = assigned / static_cast<double>(std::max<int64_t>(1, r.experts.numel()));  // (X) fraction of assignments
  auto P = r.probs.mean(0);                                                           // (X) mean probability
  return static_cast<double>(X) * (f * P).sum();                                      // scalar
}

MoeMLPImpl::MoeMLPImpl(const TransformerOptions& o) : top_k(o.top_k()) {
  router = register_module("router", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), o.n_experts()).bias(false)));
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < o.n_experts(); ++e) experts->push_back(TransformerMLP(o));
}

torch::Tensor MoeMLPImpl::forward(const torch::Tensor& x) {
  const int64_t D = x.size(-1), X = static_cast<int64_t>(experts->size());
  auto xt = x.reshape({-1, D});                                                   // (T, D)
  const int64_t T = xt.size(0);
  Routing r = route_top_k(router(xt), top_k);
  aux_loss = load_balancing_loss(r);
  // (token, expert) pairs sorted by expert: rows [start_e, start_e + count_e) go to expert e
  auto pair_expert = r.experts.reshape(-1);                                       // (T·k)
  auto order = std::get<1>(pair_expert.sort(/*stable=*/c10::optional<bool>(true), 0, false));  // (T·k)
  auto pair_token = torch::arange(T, pair_expert.options()).repeat_interleave(top_k).index_select(0, order);  // (T·k)
  auto pair_weight = r.weights.reshape(-1).index_select(0, order);                // (T·k)
  auto counts = torch::bincount(pair_expert, {}, X).to(torch::kCPU);              // (X), one device sync
  const auto* n = counts.data_ptr<int64_t>();
  std::vector<torch::Tensor> ys;
  for (int64_t e = 0, start = 0; e < X; start += n[e], ++e) {
    if (n[e] == 0) continue;
    auto rows = pair_token.narrow(0, start, n[e]);                                // (n_e) token ids
    ys.push_back(experts[e]->as<TransformerMLPImpl>()->forward(xt.index_select(0, rows)));  // (n_e, D)
  }
  if (ys.empty()) return torch::zeros_like(x);                                    // no tokens (T = 0)
  auto y = torch::cat(ys) * pair_weight.unsqueeze(1);                             // (T·k, D), fp32 weights
  auto out = torch::zeros({T, D}, y.options()).index_add(0, pair_token, y);       // (T, D): Σ_e w_e MLP_e(x)
  return out.to(x.scalar_type()).view(x.sizes());                                 // (B, L, D)
}

torch::Tensor MoeMLPImpl::forward_dense(const torch::Tensor& x) {
  const int64_t D = x.size(-1), X = static_cast<int64_t>(experts->size());
  auto xt = x.reshape({-1, D});                                                   // (T, D)
  Routing r = route_top_k(router(xt), top_k);
  aux_loss = load_balancing_loss(r);
  auto gates = torch::zeros({xt.size(0), X}, r.weights.options()).scatter(1, r.experts, r.weights);  // (T, X), 0 outside S
  std::vector<torch::Tensor> all;
  for (const auto& m : *experts) all.push_back(m->as<TransformerMLPImpl>()->forward(xt));  // X x (T, D)
  auto out = (torch::stack(all, 1) * gates.unsqueeze(-1)).sum(1);                // (T, D)
  return out.to(x.scalar_type()).view(x.sizes());                                 // (B, L, D)
}

TransformerLayerImpl::TransformerLayerImpl(const TransformerOptions& o)
    : parallel_residual(o.parallel_residual()), dropout(o.dropout()) {
  auto ln_opts = torch::nn::LayerNormOptions({o.d_model()}).eps(o.ln_eps());
  input_layernorm = register_module("input_layernorm", torch::nn::LayerNorm(ln_opts));
  post_attention_layernorm = register_module("post_attention_layernorm", torch::nn::LayerNorm(ln_opts));
  attention = register_module("attention", TransformerAttention(o));
  if (o.n_experts() > 0) moe = register_module("mlp", MoeMLP(o));
  else mlp = register_module("mlp", TransformerMLP(o));
}

torch::Tensor TransformerLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                            const torch::Tensor& mask, LayerCache* cache, int64_t offset) {
  auto drop = [&](const torch::Tensor& t) { return dropout > 0 ? F::dropout(t, F::DropoutFuncOptions().p(dropout).training(is_training())) : t; };
  auto ff = [&](const torch::Tensor& t) { return moe ? moe->forward(t) : mlp->forward(t); };
  auto a = drop(attention->forward(input_layernorm(x), cos, sin, mask, cache, offset));  // (B, L, D)
  if (parallel_residual) return drop(ff(post_attention_layernorm(x))) + a + x;
  auto h = a + x;
  return drop(ff(post_attention_layernorm(h))) + h;
}

TransformerBackboneImpl::TransformerBackboneImpl(const TransformerOptions& o) {
  embed_in = register_module("embed_in", torch::nn::Embedding(o.vocab_size(), o.d_model()));
  if (o.pos() == PosEncoding::Learned)
    embed_pos = register_module("embed_pos", torch::nn::Embedding(o.max_position_embeddings(), o.d_model()));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.n_layer(); ++i) layers->push_back(TransformerLayer(o));
  final_layer_norm = register_module("final_layer_norm",
                                     torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model()}).eps(o.ln_eps())));
}

TransformerLMImpl::TransformerLMImpl(const TransformerOptions& o) : options(o) {
  o.validate();
  gpt_neox = register_module("gpt_neox", TransformerBackbone(o));
  if (!o.tie_embeddings())
    embed_out = register_module("embed_out", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), o.vocab_size()).bias(false)));
  // GPT-NeoX / GPT-2 initialisation: N(0, 0.02) weights, zero biases, LayerNorms (1, 0).
  torch::NoGradGuard ng;
  for (auto& p : named_parameters()) {
    const auto& name = p.key();
    if (name.find("layernorm") != std::string::npos || name.find("layer_norm") != std::string::npos) continue;
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) p.value().zero_();
    else p.value().normal_(0.0, 0.02);
  }
}

std::string TransformerLMImpl::family() const {
  if (options.n_experts() > 0) return "T_" + to_string(options.pos()) + "_moe";
  if (options.pos() == PosEncoding::Learned) return "gpt2";
  if (options.parallel_residual()) return "gpt_neox";
  return "T_" + to_string(options.pos());
}

int64_t TransformerLMImpl::max_positions() const {
  return options.pos() == PosEncoding::Learned ? options.max_position_embeddings() : -1;
}

torch::Tensor TransformerLMImpl::aux_loss() const {
  if (options.n_experts() == 0) return {};
  std::vector<torch::Tensor> per_layer;
  for (const auto& m : *gpt_neox->layers)
    if (auto a = m->as<TransformerLayerImpl>()->moe->aux_loss; a.defined()) per_layer.push_back(a);
  if (per_layer.empty()) return {};                                                      // no forward yet
  return torch::stack(per_layer).mean();                                                 // mean over layers
}

torch::Tensor TransformerLMImpl::lm_head_weight() const { return embed_out ? embed_out->weight : gpt_neox->embed_in->weight; }

InferenceCache TransformerLMImpl::new_cache(int64_t batch, int64_t max_seqlen) {
  auto c = InferenceCache::allocate(batch, max_seqlen, options.n_layer(), device());
  auto topts = torch::TensorOptions().device(device()).dtype(dtype());
  for (auto& l : c.layers) {
    l.k = torch::zeros({batch, options.n_head(), max_seqlen, options.head_dim()}, topts);
    l.v = torch::zeros_like(l.k);
  }
  return c;
}

torch::Tensor TransformerLMImpl::backbone(torch::Tensor h, InferenceCache* cache) {
  const int64_t B = h.size(0), L = h.size(1);
  const int64_t offset = cache ? cache->seqlen_offset : 0, S = offset + L;
  if (cache) cache->check_room(L, "Transformer");
  const bool padded = cache && cache->has_padding();
  // Positions: slot index, or counted from each row's first real token under left padding.
  torch::Tensor pos = padded ? cache->positions(L)                                       // (B, L)
                             : torch::arange(offset, offset + L, torch::TensorOptions().dtype(torch::kLong).device(h.device()));  // (L)
  if (options.pos() == PosEncoding::Learned) {
    if (S > options.max_position_embeddings())
      throw std::invalid_argument("Transformer: position " + std::to_string(S - 1) + " beyond max_position_embeddings " +
                                  std::to_string(options.max_position_embeddings()));
    h = h + gpt_neox->embed_pos(pos);                                                    // (B, L, D)
  }
  if (options.dropout() > 0) h = F::dropout(h, F::DropoutFuncOptions().p(options.dropout()).training(is_training()));
  torch::Tensor cos, sin;
  if (options.rotary_ndims() > 0) std::tie(cos, sin) = rope_cos_sin(pos, options.rotary_ndims(), options.rope_base());
  // Plain causal attention (no position bias, no padding; a full block or one new token) leaves the mask
  // undefined so that SDPA can take its causal flash path; everything else gets the additive bias.
  const bool biased = options.pos() == PosEncoding::Alibi || options.pos() == PosEncoding::HardAlibi;
  torch::Tensor mask;
  if (biased || padded || (L != S && L != 1)) mask = attention_bias(options, L, S, offset, h.options()).unsqueeze(0);  // (1, H, L, S)
  if (padded) {  // pad keys are invisible; a pad query may see itself only (keeps its row finite)
    auto keys = torch::arange(0, S, cache->pad.options());                              // (S)
    auto key_ok = (keys.unsqueeze(0) >= cache->pad.unsqueeze(1)).view({B, 1, 1, S});    // (B, 1, 1, S)
    auto self = (keys.unsqueeze(0) == torch::arange(offset, S, cache->pad.options()).unsqueeze(1)).view({1, 1, L, S});
    const float ninf = -std::numeric_limits<float>::infinity();
    mask = mask + torch::zeros({B, 1, L, S}, mask.options()).masked_fill((key_ok | self).logical_not(), ninf);  // (B, H, L, S)
  }
  int64_t i = 0;
  for (const auto& m : *gpt_neox->layers) {
    h = m->as<TransformerLayerImpl>()->forward(h, cos, sin, mask, cache ? &cache->layers[i] : nullptr, offset);
    ++i;
  }
  if (cache) cache->seqlen_offset += L;
  return gpt_neox->final_layer_norm(h);                                                  // (B, L, D)
}

torch::Tensor TransformerLMImpl::forward_features(const torch::Tensor& x, InferenceCache* cache) { return backbone(x, cache); }

torch::Tensor TransformerLMImpl::forward(const torch::Tensor& tokens, InferenceCache* cache) {
  auto h = backbone(gpt_neox->embed_in(tokens), cache);                                  // (B, L, D)
  return F::linear(h, lm_head_weight());                                                 // (B, L, V)
}

namespace {
// Parameters with `experts` of the MLPs per layer (the router too when the model is a MoE).
int64_t transformer_params_with(const TransformerOptions& o, int64_t experts) {
  const int64_t D = o.d_model(), Fd = o.ff(), V = o.vocab_size(), ab = o.attention_bias() ? 1 : 0;
  const int64_t mlp = (D * Fd + Fd) + (Fd * D + D), router = o.n_experts() > 0 ? D * o.n_experts() : 0;
  const int64_t per_layer = 2 * D + (3 * D * D + ab * 3 * D) + (D * D + ab * D) + 2 * D + experts * mlp + router;
  const int64_t pos = o.pos() == PosEncoding::Learned ? o.max_position_embeddings() * D : 0;
  return V * D + pos + o.n_layer() * per_layer + 2 * D + (o.tie_embeddings() ? 0 : V * D);
}
}  // namespace

int64_t transformer_param_count(const TransformerOptions& o) {
  return transformer_params_with(o, o.n_experts() > 0 ? o.n_experts() : 1);
}

int64_t transformer_active_param_count(const TransformerOptions& o) {
  return transformer_params_with(o, o.n_experts() > 0 ? o.top_k() : 1);
}

}  // namespace ssmlab::models
