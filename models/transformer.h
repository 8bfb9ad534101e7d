// transformer.h — the one decoder-only Transformer LM of ssmlab, with GPT-NeoX parameter names.
//
// Presets (registry.h, hf/): the synthetic tasks' T_rope | T_nope | T_alibi | T_hard_alibi
// (sequential pre-LN residual), GPT-NeoX / Pythia (parallel residual, partial rotary), GPT-2
// (learned absolute positions, tanh GELU, tied head; hf/ transposes its Conv1D weights on load) and
// T_rope_moe (n_experts > 0: the MLP is a sparse mixture of experts, see MoeMLP below).
//
// Layer, sequential residual (parallel_residual = false; GPT-NeoX use_parallel_residual=False):
//   x = x + Attn(LN1(x));  x = x + W2 act(W1 LN2(x))
// parallel residual (GPT-NeoX default):  x = x + Attn(LN1(x)) + W2 act(W1 LN2(x))
// Attention per head h with q_i, k_j in R^P (P = D / H):
//   s_ij = q_i·k_j / sqrt(P) + b_h(i, j),  j <= i (causal),  a = softmax_j(s),  o_i = Σ_j a_ij v_j
//   rope:       q, k rotated ("rotate_half" layout) on their first dims, see rotary_ndims() below;
//               angle pos_i · base^(-2m/rotary_ndims) for pair m; b = 0.
//   nope:       no positional signal at all; b = 0 (causality is the only order information).
//   alibi:      b_h(i, j) = -slope_h · (i - j), slopes 2^(-8k/H') (MPT/Press et al. construction,
//               H' = next power of two, interleaved when H is not one).
//               NOTE: MPT writes slope·(j - last_pos); it differs by a per-row constant, which
//               softmax ignores.
//   hard_alibi: b_h(i, j) = 0 if i - j < window_h, -inf otherwise, for the first n_masked_heads
//               heads (window_h = h + 1 by default: head h sees itself and h previous tokens,
//               as in Jelassi et al.'s code); the other heads are unrestricted NoPE heads.
//   learned:    x_0 = wte(token) + wpe(position) (GPT-2); b = 0.
//
// Upstream: transformers models/gpt_neox/modeling_gpt_neox.py and models/gpt2/modeling_gpt2.py.
// ---- Parameter names (GPT-NeoX's, so hf/ loads Pythia without renaming) ------------------------
//   gpt_neox.embed_in.weight                                  (V, D)
//   gpt_neox.embed_pos.weight                                 (max_position_embeddings, D)  learned only
//   gpt_neox.layers.{i}.input_layernorm.{weight,bias}         (D)
//   gpt_neox.layers.{i}.attention.query_key_value.weight      (3D, D)  rows ordered (H, 3, P): per head q|k|v
//   gpt_neox.layers.{i}.attention.query_key_value.bias        (3D)     if attention_bias
//   gpt_neox.layers.{i}.attention.dense.{weight,bias}         (D, D), (D)
//   gpt_neox.layers.{i}.post_attention_layernorm.{weight,bias}(D)
//   gpt_neox.layers.{i}.mlp.dense_h_to_4h.{weight,bias}       (F, D), (F)
//   gpt_neox.layers.{i}.mlp.dense_4h_to_h.{weight,bias}       (D, F), (D)
//   with n_experts = X > 0 the mlp.* entries above are replaced by (X experts, each the dense MLP):
//   gpt_neox.layers.{i}.mlp.router.weight                     (X, D)   no bias
//   gpt_neox.layers.{i}.mlp.experts.{e}.dense_h_to_4h.{weight,bias}  (F, D), (F)
//   gpt_neox.layers.{i}.mlp.experts.{e}.dense_4h_to_h.{weight,bias}  (D, F), (D)
//   gpt_neox.final_layer_norm.{weight,bias}                   (D)
//   embed_out.weight                                          (V, D)   absent when tied to embed_in
//
// Attention runs through at::scaled_dot_product_attention when LibTorch has it (>= 2.0), a
// manual softmax path otherwise (compile-time), and both are available for the parity test.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "models/lm.h"

namespace ssmlab::models {

enum class PosEncoding { Rope, Nope, Alibi, HardAlibi, Learned };
PosEncoding parse_pos_encoding(const std::string& s);  // "rope" | "nope" | "alibi" | "hard_alibi" | "learned"
std::string to_string(PosEncoding p);

// MLP activation: exact erf GELU (GPT-NeoX "gelu"), tanh GELU (GPT-2 "gelu_new", "gelu_fast",
// "gelu_pytorch_tanh"), ReLU, SiLU.
enum class Activation { Gelu, GeluTanh, Relu, Silu };
Activation parse_activation(const std::string& s);  // Hugging Face hidden_act names
std::string to_string(Activation a);

enum class AttnImpl { Auto, Manual, Sdpa };
constexpr bool kHaveSdpa = TORCH_VERSION_MAJOR >= 2;

struct TransformerOptions {
  TransformerOptions(int64_t d_model = 64, int64_t n_layer = 2, int64_t n_head = 4, int64_t vocab_size = 32)
      : d_model_(d_model), n_layer_(n_layer), n_head_(n_head), vocab_size_(vocab_size) {}
  TORCH_ARG(int64_t, d_model);              // D, divisible by n_head
  TORCH_ARG(int64_t, n_layer);
  TORCH_ARG(int64_t, n_head);               // H
  TORCH_ARG(int64_t, vocab_size);           // V
  TORCH_ARG(int64_t, d_ff) = 0;             // MLP width F (intermediate_size / n_inner); 0 = 4 D
  TORCH_ARG(PosEncoding, pos) = PosEncoding::Rope;
  TORCH_ARG(double, rotary_pct) = 0.25;     // fraction of each head's dims that RoPE rotates
  TORCH_ARG(double, rope_base) = 10000.0;   // rope_theta
  TORCH_ARG(int64_t, n_masked_heads) = -1;  // hard_alibi: restricted heads; -1 = H / 2
  TORCH_ARG(std::vector<int64_t>, windows) = {};  // hard_alibi windows per masked head; {} = 1, 2, 3, ...
  TORCH_ARG(int64_t, max_position_embeddings) = 1024;  // learned: rows of embed_pos (n_positions)
  TORCH_ARG(bool, parallel_residual) = false;
  TORCH_ARG(Activation, activation) = Activation::Gelu;
  TORCH_ARG(bool, attention_bias) = true;   // biases of query_key_value and dense
  TORCH_ARG(bool, tie_embeddings) = false;  // NeoX default: untied; GPT-2: tied
  TORCH_ARG(double, ln_eps) = 1e-5;
  TORCH_ARG(AttnImpl, attn_impl) = AttnImpl::Auto;
  // Dropout in training mode on the input embeddings and on each residual branch's output (GPT-2's
  // embd_pdrop and resid_pdrop); attention probabilities are not dropped (attn_pdrop is not applied).
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(int64_t, n_experts) = 0;        // X, MoE MLP experts (Mixtral num_local_experts); 0 = dense MLP
  TORCH_ARG(int64_t, top_k) = 2;            // k, experts per token (Mixtral num_experts_per_tok), 1 <= k <= X
 public:
  int64_t head_dim() const { return d_model_ / n_head_; }
  int64_t ff() const { return d_ff_ > 0 ? d_ff_ : 4 * d_model_; }
  // transformers' rule: rotary_ndims = int(P · rotary_pct); inv_freq has ceil(rotary_ndims / 2)
  // entries base^(-2m / rotary_ndims), and the first 2·ceil(rotary_ndims / 2) dims are rotated
  // (one more than rotary_ndims when it is odd). 0 when pos != rope.
  int64_t rotary_ndims() const;
  int64_t rotated_dims() const { return (rotary_ndims() + 1) / 2 * 2; }
  int64_t masked_heads() const { return n_masked_heads_ >= 0 ? n_masked_heads_ : n_head_ / 2; }
  // Throws std::invalid_argument naming the field for an inconsistent configuration.
  void validate() const;
};

// ---- building blocks (exposed for tests) --------------------------------------------------
// ALiBi slopes (H).
torch::Tensor alibi_slopes(int64_t n_head);
// Additive attention bias (H, Lq, Lk) for queries at slots offset..offset+Lq-1 and keys
// 0..Lk-1 (Lk = offset + Lq), causal mask included (-inf above the diagonal).
torch::Tensor attention_bias(const TransformerOptions& o, int64_t Lq, int64_t Lk, int64_t offset,
                             const torch::TensorOptions& topts);
// RoPE tables for positions (L) or (B, L): cos, sin of shape (L, R) or (B, 1, L, R), fp32,
// R = 2 ceil(rotary_ndims / 2).
std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& positions, int64_t rotary_ndims,
                                                     double base);
// Rotates the first R dims of x (B, H, L, P) with tables from rope_cos_sin (computed in fp32).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
// q (B, H, Lq, P), k, v (B, H, Lk, P), mask additive, broadcastable to (B, H, Lq, Lk) -> (B, H, Lq, P).
// An undefined mask means plain causal attention without padding: Lq == Lk (query i sees keys <= i) or
// Lq == 1 (the newest token sees every key); SDPA then runs with is_causal (flash/cuDNN backends on 2.x).
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask, AttnImpl impl = AttnImpl::Auto);
torch::Tensor activate(const torch::Tensor& x, Activation a);

class TransformerAttentionImpl : public torch::nn::Module {
 public:
  explicit TransformerAttentionImpl(const TransformerOptions& o);
  // x (B, L, D) -> (B, L, D). rope tables (or undefined), mask (1|B, H, L, S). With a layer cache,
  // writes this call's keys/values at slots [offset, offset + L) and attends to slots [0, offset + L).
  // A layer cache without k/v buffers stores nothing: a one-shot forward that uses the cache only for
  // its left padding (masks and positions; the stride-memory hybrid's batched windows, models/smt.h).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, LayerCache* cache, int64_t offset);
  TransformerOptions options;
  torch::nn::Linear query_key_value{nullptr}, dense{nullptr};
};
TORCH_MODULE(TransformerAttention);

class TransformerMLPImpl : public torch::nn::Module {
 public:
  explicit TransformerMLPImpl(const TransformerOptions& o);
  torch::Tensor forward(const torch::Tensor& x);  // (B, L, D) -> (B, L, D)
  Activation act;
  torch::nn::Linear dense_h_to_4h{nullptr}, dense_4h_to_h{nullptr};
};
TORCH_MODULE(TransformerMLP);

// ---- sparse mixture-of-experts MLP (n_experts > 0) ---------------------------------------------
// Sources: Shazeer et al. 2017 (sparsely-gated MoE), Fedus et al. 2021 "Switch Transformers"
// (Section 2.2, eq. 4: the load-balancing loss), Jiang et al. 2024 "Mixtral of Experts" (Section 2.1:
// top-2 routing). Upstream: transformers models/mixtral/modeling_mixtral.py (MixtralSparseMoeBlock,
// load_balancing_loss_func); mistral-src moe.py.
// Legend: T = B·L tokens, X = n_experts, k = top_k, F = d_ff.
//   p = softmax(W_r x)                                   router probabilities (X), fp32
//   S = the k experts with the largest p                  (torch::topk)
//   w_e = p_e / Σ_{j in S} p_j  for e in S               renormalised, Σ_e w_e = 1
//   y = Σ_{e in S} w_e · MLP_e(x)                        each MLP_e the dense MLP (D -> F -> D)
// Renormalising the top-k of the full softmax equals Mixtral's softmax over the k selected logits
// (mistral-src: topk of the logits, then softmax; transformers: softmax, topk, divide by the sum):
// both are exp(l_e) / Σ_{j in S} exp(l_j).
// NOTE: at top_k = 1 the weight is 1, so the LM loss gives the router no gradient and only the
// load-balancing loss trains it (Switch Transformer's top-1 multiplies by p_e unrenormalised instead).
// Capacity: none ("dropless", as MegaBlocks and Mixtral inference): every token reaches its k
// experts whatever the batch, so a token's output never depends on the other tokens of the batch
// (padding, batch size and KV-cache decoding see the same per-token function).
// Sparse compute: the T·k (token, expert) pairs are sorted by expert, each expert runs once on its
// own rows (index_select), and the weighted rows are summed back per token (index_add).
// forward_dense is the reference twin (every expert on every token, weighted by the routing
// weights scattered into a (T, X) matrix, zero outside S).
struct Routing {
  torch::Tensor probs;    // (T, X) softmax of the router logits, fp32
  torch::Tensor weights;  // (T, k) renormalised weights of the selected experts, fp32, rows sum to 1
  torch::Tensor experts;  // (T, k) int64 indices of the selected experts, by decreasing probability
};
// logits (T, X) -> routing of each token to its top_k experts.
Routing route_top_k(const torch::Tensor& logits, int64_t top_k);
// Switch Transformer load-balancing loss (Fedus et al. 2021, eq. 4) over top-k assignments:
//   X · Σ_e f_e · P_e,  f_e = (assignments to e) / (T·k),  P_e = mean_t probs[t, e].
// 1 for perfectly balanced routing (f or P uniform), up to X when every token goes to one expert.
// (transformers' load_balancing_loss_func counts f per top-k slot, so its value is k times this.)
torch::Tensor load_balancing_loss(const Routing& r);

class MoeMLPImpl : public torch::nn::Module {
 public:
  explicit MoeMLPImpl(const TransformerOptions& o);
  torch::Tensor forward(const torch::Tensor& x);        // (B, L, D) -> (B, L, D), sparse dispatch
  torch::Tensor forward_dense(const torch::Tensor& x);  // the same, every expert on every token (reference)
  int64_t top_k;
  torch::nn::Linear router{nullptr};       // D -> X, no bias
  torch::nn::ModuleList experts{nullptr};  // X x TransformerMLP
  torch::Tensor aux_loss;                  // load_balancing_loss of the last forward (scalar, fp32)
};
TORCH_MODULE(MoeMLP);

class TransformerLayerImpl : public torch::nn::Module {
 public:
  explicit TransformerLayerImpl(const TransformerOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, LayerCache* cache, int64_t offset);
  bool parallel_residual;
  double dropout;
  torch::nn::LayerNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  TransformerAttention attention{nullptr};
  TransformerMLP mlp{nullptr};  // n_experts == 0
  MoeMLP moe{nullptr};          // n_experts > 0 (registered under the name "mlp" as well)
};
TORCH_MODULE(TransformerLayer);

class TransformerBackboneImpl : public torch::nn::Module {
 public:
  explicit TransformerBackboneImpl(const TransformerOptions& o);
  torch::nn::Embedding embed_in{nullptr}, embed_pos{nullptr};  // embed_pos: learned positions only
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(TransformerBackbone);

class TransformerLMImpl : public LanguageModelImpl {
 public:
  explicit TransformerLMImpl(const TransformerOptions& o);
  using LanguageModelImpl::forward;
  using LanguageModelImpl::forward_features;
  // tokens (B, L) -> logits (B, L, V); with a cache, tokens continue at cache->seqlen_offset.
  torch::Tensor forward(const torch::Tensor& tokens, InferenceCache* cache) override;
  torch::Tensor forward_features(const torch::Tensor& x, InferenceCache* cache) override;  // (B, L, D)
  InferenceCache new_cache(int64_t batch, int64_t max_seqlen) override;
  int64_t d_model() const override { return options.d_model(); }
  int64_t vocab_size() const override { return options.vocab_size(); }
  std::string family() const override;
  int64_t max_positions() const override;
  torch::Tensor lm_head_weight() const;  // (V, D): embed_out, or embed_in when tied
  // MoE: the load-balancing loss of the last forward, averaged over layers; undefined when dense.
  torch::Tensor aux_loss() const override;

  TransformerOptions options;
  TransformerBackbone gpt_neox{nullptr};
  torch::nn::Linear embed_out{nullptr};  // null when tied

 private:
  torch::Tensor backbone(torch::Tensor h, InferenceCache* cache);  // (B, L, D) embeddings -> final hidden
};
TORCH_MODULE(TransformerLM);

// Exact parameter count of TransformerLM(o) (tied head counted once).
int64_t transformer_param_count(const TransformerOptions& o);
// Parameters one token uses: all but the experts, plus top_k experts per layer (= the total
// when dense). The router counts as used.
int64_t transformer_active_param_count(const TransformerOptions& o);

}  // namespace ssmlab::models
