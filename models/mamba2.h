// mamba2.h — Mamba-2 (SSD) block and language model.
//
// Paper: Dao & Gu, "Transformers are SSMs" (2024), Sections 6-7 and Listing 1 (ssd_minimal).
// Upstream: state-spaces/mamba mamba_ssm/modules/mamba2_simple.py, mamba_ssm/modules/ssd_minimal.py.
//
// Per head h (scalar decay a_t = exp(Δ_t A_h), A_h < 0), state H_t in R^{P x N}:
//   H_t = a_t H_{t-1} + Δ_t x_t B_t^T        y_t = H_t C_t + D_h x_t
// Block: in_proj -> (z, xBC, Δ); causal depthwise conv + SiLU on xBC; split x (E = H·P), B, C
// (G groups of N, head h uses group h / (H/G)); Δ = softplus(Δ + dt_bias); SSD; y = RMSNorm(y ⊙ SiLU(z))
// (gated, per group); out_proj.
// Two SSD implementations: ssd_chunked (intra-chunk quadratic form + inter-chunk state passing,
// the numbered steps of Listing 1) and ssd_sequential (the recurrence above, a loop over L).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "lm.h"
#include "mamba.h"

namespace ssmlab::models {

struct Mamba2Options {
  Mamba2Options(int64_t d_model = 64, int64_t n_layer = 2, int64_t vocab_size = 32)
      : d_model_(d_model), n_layer_(n_layer), vocab_size_(vocab_size) {}
  TORCH_ARG(int64_t, d_model);               // D
  TORCH_ARG(int64_t, n_layer);
  TORCH_ARG(int64_t, vocab_size);            // before padding
  TORCH_ARG(int64_t, pad_vocab_size_multiple) = 8;
  TORCH_ARG(int64_t, d_state) = 64;          // N
  TORCH_ARG(int64_t, d_conv) = 4;            // K
  TORCH_ARG(int64_t, expand) = 2;            // E = expand * D
  TORCH_ARG(int64_t, headdim) = 64;          // P; H = E / P
  TORCH_ARG(int64_t, ngroups) = 1;           // G, divides H
  TORCH_ARG(int64_t, chunk_size) = 256;      // SSD chunk length Q
  TORCH_ARG(bool, use_chunked) = true;       // false: ssd_sequential, the reference twin (kernel_impl reference)
  TORCH_ARG(bool, tie_embeddings) = true;    // false: a separate lm_head.weight (V_pad, D)
  // Gated RMSNorm over groups of E/G channels (mamba-ssm's RMSNormGated) or over all E channels
  // (transformers 5.x MambaRMSNormGated ignores n_groups). The same when G = 1.
  TORCH_ARG(bool, norm_per_group) = true;
  TORCH_ARG(bool, conv_bias) = true;
  TORCH_ARG(bool, bias) = false;
  TORCH_ARG(double, norm_eps) = 1e-5;
  TORCH_ARG(double, dt_min) = 1e-3;
  TORCH_ARG(double, dt_max) = 1e-1;
  TORCH_ARG(double, dt_init_floor) = 1e-4;
  TORCH_ARG(double, A_init_min) = 1.0;       // A_h = -U(A_init_min, A_init_max)
  TORCH_ARG(double, A_init_max) = 16.0;
 public:
  int64_t d_inner() const { return expand_ * d_model_; }
  int64_t nheads() const { return d_inner() / headdim_; }
  int64_t conv_dim() const { return d_inner() + 2 * ngroups_ * d_state_; }
  int64_t padded_vocab() const {
    const int64_t m = std::max<int64_t>(1, pad_vocab_size_multiple_);
    return (vocab_size_ + m - 1) / m * m;
  }
};

// SSD on already-discretised inputs. x (B, L, H, P) (not yet multiplied by Δ), dt (B, L, H),
// A (H), Bm, Cm (B, L, G, N). Returns y (B, L, H, P) (without the D skip) and the final state
// (B, H, P, N) when final_state is non-null. Computed in fp32.
torch::Tensor ssd_chunked(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A,
                          const torch::Tensor& Bm, const torch::Tensor& Cm, int64_t chunk_size,
                          torch::Tensor* final_state = nullptr);
torch::Tensor ssd_sequential(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A,
                             const torch::Tensor& Bm, const torch::Tensor& Cm, torch::Tensor* final_state = nullptr);
// exp(segsum(a)): (..., T) -> (..., T, T) with [i, j] = exp(a_{j+1} + ... + a_i) for j <= i, 0 above.
torch::Tensor segsum_exp(const torch::Tensor& a);

// y = RMSNorm_group(y ⊙ SiLU(z)) ⊙ weight, groups of size E / G (norm_before_gate = false).
class GatedRMSNormImpl : public torch::nn::Module {
 public:
  GatedRMSNormImpl(int64_t dim, int64_t group_size, double eps);
  torch::Tensor forward(const torch::Tensor& y, const torch::Tensor& z);  // (..., E) x2 -> (..., E)
  torch::Tensor weight;
  int64_t group_size;
  double eps;
};
TORCH_MODULE(GatedRMSNorm);

class Mamba2MixerImpl : public torch::nn::Module {
 public:
  explicit Mamba2MixerImpl(const Mamba2Options& o);
  // (B, L, D) -> (B, L, D); with `state` (preallocated by new_state), writes the layer state after u
  // (prefill). `valid` (B, L) bool, optional: false on left-pad slots (conv and SSD inputs zeroed).
  torch::Tensor forward(const torch::Tensor& u, LayerCache* state = nullptr, const torch::Tensor& valid = {});
  // One token: (B, D) -> (B, D), O(1) in the sequence length; updates `state` in place.
  torch::Tensor step(const torch::Tensor& u, LayerCache& state);
  // Zero conv_state (B, E + 2GN, K) and ssm_state (B, H, P, N) fp32.
  void new_state(LayerCache& state, int64_t batch, const torch::Device& device) const;
  Mamba2Options options;
  torch::nn::Linear in_proj{nullptr}, out_proj{nullptr};
  torch::nn::Conv1d conv1d{nullptr};
  torch::Tensor dt_bias, A_log, D;
  GatedRMSNorm norm{nullptr};
};
TORCH_MODULE(Mamba2Mixer);

class Mamba2LayerImpl : public torch::nn::Module {
 public:
  explicit Mamba2LayerImpl(const Mamba2Options& o);
  torch::Tensor forward(const torch::Tensor& x, LayerCache* state = nullptr, const torch::Tensor& valid = {});  // x + mixer(norm(x))
  torch::Tensor step(const torch::Tensor& x, LayerCache& state);                                             // (B, D)
  RMSNorm norm{nullptr};
  Mamba2Mixer mixer{nullptr};
};
TORCH_MODULE(Mamba2Layer);

class Mamba2BackboneImpl : public torch::nn::Module {
 public:
  explicit Mamba2BackboneImpl(const Mamba2Options& o);
  torch::nn::Embedding embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm_f{nullptr};
};
TORCH_MODULE(Mamba2Backbone);

// Parameter names = transformers' Mamba2ForCausalLM: backbone.embeddings.weight,
// backbone.layers.{i}.norm.weight, backbone.layers.{i}.mixer.{in_proj,conv1d,dt_bias,A_log,D,norm,
// out_proj}, backbone.norm_f.weight, and lm_head.weight when untied.
class Mamba2LMImpl : public LanguageModelImpl {
 public:
  explicit Mamba2LMImpl(const Mamba2Options& o);
  using LanguageModelImpl::forward;
  using LanguageModelImpl::forward_features;
  // tokens (B, L) -> logits (B, L, V_pad); an unused cache is filled (prefill), a used one continues
  // one token at a time.
  torch::Tensor forward(const torch::Tensor& tokens, InferenceCache* cache) override;
  torch::Tensor forward_features(const torch::Tensor& x, InferenceCache* cache) override;  // (B, L, D) -> (B, L, D)
  InferenceCache new_cache(int64_t batch, int64_t max_seqlen) override;
  int64_t d_model() const override { return options.d_model(); }
  int64_t vocab_size() const override { return options.padded_vocab(); }
  std::string family() const override { return "mamba2"; }
  torch::Tensor lm_head_weight() const;  // (V_pad, D)

  Mamba2Options options;
  Mamba2Backbone backbone{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied

 private:
  torch::Tensor layers_forward(torch::Tensor h, InferenceCache* cache);
};
TORCH_MODULE(Mamba2LM);

int64_t mamba2_param_count(const Mamba2Options& o);

}  // namespace ssmlab::models
