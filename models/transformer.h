// transformer.h — decoder-only Transformer LM with positional variants rope | nope | alibi | hard_alibi.
//
// Layer (pre-LN, sequential residual):  x += Attn(LN1(x));  x += W2 GELU(W1 LN2(x)).
// Attention per head h with q_i, k_j in R^P (P = D / H):
//   s_ij = q_i·k_j / sqrt(P) + b_h(i, j),  j <= i (causal),  a = softmax_j(s),  o_i = Σ_j a_ij v_j
//   rope:       q, k rotated (NeoX "rotate_half" layout) on their first rotary_dim = rotary_pct·P dims,
//               angle (i · base^(-2m/rotary_dim)) for pair m; b = 0.
//   nope:       no positional signal at all; b = 0 (causality is the only order information).
//   alibi:      b_h(i, j) = -slope_h · (i - j), slopes 2^(-8k/H') (MPT/Press et al. construction,
//               H' = next power of two, interleaved when H is not one).
//               NOTE: MPT writes slope·(j - last_pos); it differs by a per-row constant, which
//               softmax ignores.
//   hard_alibi: b_h(i, j) = 0 if i - j < window_h, -inf otherwise, for the first n_masked_heads
//               heads (window_h = h + 1 by default: head h sees itself and h previous tokens,
//               as in Jelassi et al.'s code); the other heads are unrestricted NoPE heads.
// NOTE: the GPT-NeoX reference uses a parallel residual and rotary_pct 0.25; we keep the issue's
// sequential pre-LN layer and expose rotary_pct (default 0.25) and rope_base.
//
// Attention runs through at::scaled_dot_product_attention when LibTorch has it (>= 2.0), a
// manual softmax path otherwise (compile-time), and both are available for the parity test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "lm.h"

namespace ssmlab::models {

enum class PosEncoding { Rope, Nope, Alibi, HardAlibi };
PosEncoding parse_pos_encoding(const std::string& s);  // "rope" | "nope" | "alibi" | "hard_alibi"
std::string to_string(PosEncoding p);

enum class AttnImpl { Auto, Manual, Sdpa };
constexpr bool kHaveSdpa = TORCH_VERSION_MAJOR >= 2;

struct TransformerOptions {
  TransformerOptions(int64_t d_model = 64, int64_t n_layer = 2, int64_t n_head = 4, int64_t vocab_size = 32)
      : d_model_(d_model), n_layer_(n_layer), n_head_(n_head), vocab_size_(vocab_size) {}
  TORCH_ARG(int64_t, d_model);              // D, divisible by n_head
  TORCH_ARG(int64_t, n_layer);
  TORCH_ARG(int64_t, n_head);               // H
  TORCH_ARG(int64_t, vocab_size);           // V
  TORCH_ARG(int64_t, d_ff) = 0;             // MLP width; 0 = 4 D
  TORCH_ARG(PosEncoding, pos) = PosEncoding::Rope;
  TORCH_ARG(double, rotary_pct) = 0.25;     // fraction of each head's dims that RoPE rotates
  TORCH_ARG(double, rope_base) = 10000.0;
  TORCH_ARG(int64_t, n_masked_heads) = -1;  // hard_alibi: restricted heads; -1 = H / 2
  TORCH_ARG(std::vector<int64_t>, windows) = {};  // hard_alibi windows per masked head; {} = 1, 2, 3, ...
  TORCH_ARG(bool, tie_embeddings) = false;  // NeoX default: untied
  TORCH_ARG(double, ln_eps) = 1e-5;
  TORCH_ARG(AttnImpl, attn_impl) = AttnImpl::Auto;
 public:
  int64_t head_dim() const { return d_model_ / n_head_; }
  int64_t ff() const { return d_ff_ > 0 ? d_ff_ : 4 * d_model_; }
  int64_t rotary_dim() const;               // even, <= head_dim
  int64_t masked_heads() const { return n_masked_heads_ >= 0 ? n_masked_heads_ : n_head_ / 2; }
};

// ---- building blocks (exposed for tests) --------------------------------------------------
// ALiBi slopes (H).
torch::Tensor alibi_slopes(int64_t n_head);
// Additive attention bias (H, Lq, Lk) for queries at positions offset..offset+Lq-1 and keys
// 0..Lk-1 (Lk = offset + Lq), causal mask included (-inf above the diagonal).
torch::Tensor attention_bias(const TransformerOptions& o, int64_t Lq, int64_t Lk, int64_t offset,
                             const torch::TensorOptions& topts);
// Applies RoPE to x (B, H, L, P) at positions offset.. on the first rotary_dim dims.
torch::Tensor apply_rope(const torch::Tensor& x, int64_t rotary_dim, double base, int64_t offset);
// q (B, H, Lq, P), k, v (B, H, Lk, P), bias (H, Lq, Lk) additive -> (B, H, Lq, P).
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias, AttnImpl impl = AttnImpl::Auto);

// Per-layer key/value cache for generation.
struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer (B, H, T, P)
  int64_t offset = 0;               // tokens already cached
  bool empty() const { return k.empty(); }
};

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit CausalSelfAttentionImpl(const TransformerOptions& o);
  // x (B, L, D) -> (B, L, D); with a cache, appends this call's keys/values (layer `layer`).
  torch::Tensor forward(const torch::Tensor& x, KVCache* cache = nullptr, int64_t layer = 0);
  TransformerOptions options;
  torch::nn::Linear qkv{nullptr}, out{nullptr};
};
TORCH_MODULE(CausalSelfAttention);

class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const TransformerOptions& o);
  torch::Tensor forward(const torch::Tensor& x, KVCache* cache = nullptr, int64_t layer = 0);
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  CausalSelfAttention attn{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(TransformerBlock);

class TransformerLMImpl : public LanguageModelImpl {
 public:
  explicit TransformerLMImpl(const TransformerOptions& o);
  torch::Tensor forward(const torch::Tensor& tokens) override { return forward(tokens, nullptr); }
  // tokens (B, L) -> logits (B, L, V); with a cache, tokens continue at cache->offset.
  torch::Tensor forward(const torch::Tensor& tokens, KVCache* cache);
  torch::Tensor forward_features(const torch::Tensor& x) override;
  int64_t d_model() const override { return options.d_model(); }
  int64_t vocab_size() const override { return options.vocab_size(); }
  std::string family() const override { return "T_" + to_string(options.pos()); }

  TransformerOptions options;
  torch::nn::Embedding wte{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm ln_f{nullptr};
  torch::nn::Linear head{nullptr};  // null when tied
};
TORCH_MODULE(TransformerLM);

// 12 D^2 + 13 D per layer (with d_ff = 4D), + V D embedding + 2 D final LN + V D head (untied).
int64_t transformer_param_count(const TransformerOptions& o);

}  // namespace ssmlab::models
