// mamba2.h — Mamba-2 (SSD) block and language model.
//
// Paper: Dao & Gu, "Transformers are SSMs" (2024), Sections 6-7 and Listing 1 (ssd_minimal).
// Upstream: state-spaces/mamba mamba_ssm/modules/mamba2_simple.py, mamba_ssm/modules/ssd_minimal.py.
//
// Letters: docs/glossary.md (B batch, L length, D d_model, E d_inner, N d_state, H heads, P head dim,
// G groups, Q chunk, K d_conv).
//
// Per head h (scalar decay a_t = exp(Δ_t A_h), A_h < 0), state S_t in R^{P x N}:
//   S_t = a_t S_{t-1} + Δ_t x_t B_t^T        y_t = S_t C_t + D_h x_t
// Block: in_proj -> (z, xBC, Δ); causal depthwise conv + SiLU on xBC; split x (E = H·P), B, C
// (G groups of N, head h uses group h / (H/G)); Δ = softplus(Δ + dt_bias); SSD; y = RMSNorm(y ⊙ SiLU(z))
// (gated, per group); out_proj.
// The SSD itself (chunked form and sequential twin) is kernels/ssd.h, chosen by kernel_impl; the LM
// shell (embedding, layers, final norm, head, cache) is ssm_lm.h.
// Errors: the mixer's constructor throws std::invalid_argument unless headdim divides E and ngroups
// divides H.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "kernels/kernel_impl.h"
#include "models/inference_cache.h"
#include "models/ssm_lm.h"

namespace ssmlab::models {

struct Mamba2Options {
  Mamba2Options(int64_t d_model = 64, int64_t n_layer = 2, int64_t vocab_size = 32)
      : d_model_(d_model), n_layer_(n_layer), vocab_size_(vocab_size) {}
  TORCH_ARG(int64_t, d_model);               // D
  // The block, in mamba2_simple.py's order.
  TORCH_ARG(int64_t, d_state) = 64;          // N
  TORCH_ARG(int64_t, d_conv) = 4;            // K
  TORCH_ARG(int64_t, expand) = 2;            // E = expand * D
  TORCH_ARG(int64_t, headdim) = 64;          // P; H = E / P
  TORCH_ARG(int64_t, ngroups) = 1;           // G, divides H
  TORCH_ARG(double, A_init_min) = 1.0;       // A_h = -U(A_init_min, A_init_max)
  TORCH_ARG(double, A_init_max) = 16.0;
  TORCH_ARG(double, dt_min) = 1e-3;
  TORCH_ARG(double, dt_max) = 1e-1;
  TORCH_ARG(double, dt_init_floor) = 1e-4;
  TORCH_ARG(bool, bias) = false;
  TORCH_ARG(bool, conv_bias) = true;
  TORCH_ARG(int64_t, chunk_size) = 256;      // SSD chunk length Q
  // The SSD's implementation (kernels/ssd.h): Reference = the sequential twin, anything else the
  // chunked form.
  TORCH_ARG(kernels::KernelImpl, kernel_impl) = kernels::KernelImpl::Auto;
  // Gated RMSNorm over groups of E/G channels (mamba-ssm's RMSNormGated) or over all E channels
  // (transformers 5.x MambaRMSNormGated ignores n_groups). The same when G = 1.
  TORCH_ARG(bool, norm_per_group) = true;
  TORCH_ARG(double, norm_eps) = 1e-5;
  // The LM around the blocks (mixer_seq_simple.py, ssm_lm.h).
  TORCH_ARG(int64_t, n_layer);
  TORCH_ARG(int64_t, vocab_size);            // before padding
  TORCH_ARG(int64_t, pad_vocab_size_multiple) = 8;
  TORCH_ARG(bool, tie_embeddings) = true;    // false: a separate lm_head.weight (V_pad, D)
  TORCH_ARG(bool, residual_in_fp32) = true;  // the residual sum in fp32
 public:
  int64_t d_inner() const { return expand_ * d_model_; }
  int64_t nheads() const { return d_inner() / headdim_; }
  int64_t conv_dim() const { return d_inner() + 2 * ngroups_ * d_state_; }
  int64_t padded_vocab() const {
    const int64_t m = std::max<int64_t>(1, pad_vocab_size_multiple_);
    return (vocab_size_ + m - 1) / m * m;
  }
};

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

// One residual layer: x + mixer(norm(x)) (ssm_lm.h).
using Mamba2LayerImpl = ResidualLayerImpl<Mamba2MixerImpl>;

// The Mamba-2 LM: the SSM shell (ssm_lm.h) over Mamba2Layers. Parameter names = transformers'
// Mamba2ForCausalLM: the shell's, and backbone.layers.{i}.mixer.{in_proj,conv1d,dt_bias,A_log,D,norm,
// out_proj}. Initialisation: embeddings N(0, 0.02); out_proj rescaled by 1/sqrt(n_layer).
class Mamba2LMImpl : public SsmLMImpl {
 public:
  explicit Mamba2LMImpl(const Mamba2Options& o);
  std::string family() const override { return "mamba2"; }
  Mamba2Options options;
};
TORCH_MODULE(Mamba2LM);

int64_t mamba2_param_count(const Mamba2Options& o);

}  // namespace ssmlab::models
