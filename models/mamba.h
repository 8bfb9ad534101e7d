// mamba.h — Mamba (Mamba-1, "S6") block and language model.
//
// Paper: Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (2023),
// Section 3 and Algorithm 2. Upstream: state-spaces/mamba mamba_ssm/modules/mamba_simple.py and
// mamba_ssm/models/mixer_seq_simple.py. The selective scan and the causal conv are
// kernels/selective_scan.h and kernels/causal_conv1d.h; the LM shell (embedding, layers, final norm,
// head, cache) is ssm_lm.h, shared with Mamba-2.
//
// ---- Hugging Face / mamba-ssm checkpoint contract ------------------------------------------
// MambaLM's named_parameters() are exactly the names of HF `MambaForCausalLM`
// (and of state-spaces/mamba-* checkpoints), so hf/ loads them without renaming (the shell's names,
// ssm_lm.h, and the mixer's):
//   backbone.embeddings.weight                     (V_pad, D)
//   backbone.layers.{i}.norm.weight                (D)            RMSNorm before the mixer
//   backbone.layers.{i}.mixer.in_proj.weight       (2E, D)        [+ .bias if bias]
//   backbone.layers.{i}.mixer.conv1d.weight        (E, 1, K)
//   backbone.layers.{i}.mixer.conv1d.bias          (E)            if conv_bias
//   backbone.layers.{i}.mixer.x_proj.weight        (R + 2N, E)    R = dt_rank
//   backbone.layers.{i}.mixer.dt_proj.weight       (E, R)
//   backbone.layers.{i}.mixer.dt_proj.bias         (E)
//   backbone.layers.{i}.mixer.A_log                (E, N)         A = -exp(A_log)
//   backbone.layers.{i}.mixer.D                    (E)
//   backbone.layers.{i}.mixer.out_proj.weight      (D, E)         [+ .bias if bias]
//   backbone.norm_f.weight                         (D)
//   lm_head.weight                                 (V_pad, D)     only when tie_embeddings = false
// With tie_embeddings (the default) lm_head is backbone.embeddings.weight, not a separate parameter.
// Config fields (HF MambaConfig name -> MambaOptions): hidden_size/d_model -> d_model,
// num_hidden_layers/n_layer -> n_layer, vocab_size -> vocab_size (padded up to a multiple of
// pad_vocab_size_multiple, default 8; HF checkpoints are already padded), state_size -> d_state,
// conv_kernel -> d_conv, expand -> expand, time_step_rank ("auto" = ceil(D/16)) -> dt_rank
// (0 = auto), use_conv_bias -> conv_bias, use_bias -> bias, layer_norm_epsilon (1e-5) -> norm_eps,
// residual_in_fp32 -> residual_in_fp32. mamba-ssm's old "ssm_cfg" keys map the same way.
//
// Errors: the kernels' std::invalid_argument (kernels/selective_scan.h, kernels/causal_conv1d.h), e.g.
// kernel_impl Cuda on CPU tensors or in a build without CUDA.
//
// Letters: docs/glossary.md (B batch, L length, D d_model, E d_inner, N d_state, R dt_rank, K d_conv).
// Paper symbol -> code: x_t input (B, L, D); Δ delta (B, E, L); A (E, N); B, C (B, N, L)
// input-dependent; h state (B, E, N); the skip D (E) (the parameter named D, not d_model).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "kernels/kernel_impl.h"
#include "models/inference_cache.h"
#include "models/ssm_lm.h"

namespace ssmlab::models {

struct MambaOptions {
  MambaOptions(int64_t d_model = 64, int64_t n_layer = 2, int64_t vocab_size = 32)
      : d_model_(d_model), n_layer_(n_layer), vocab_size_(vocab_size) {}
  TORCH_ARG(int64_t, d_model);                    // D
  TORCH_ARG(int64_t, n_layer);
  TORCH_ARG(int64_t, vocab_size);                 // before padding
  TORCH_ARG(int64_t, pad_vocab_size_multiple) = 8;
  TORCH_ARG(int64_t, d_state) = 16;               // N
  TORCH_ARG(int64_t, d_conv) = 4;                 // K
  TORCH_ARG(int64_t, expand) = 2;                 // E = expand * D
  TORCH_ARG(int64_t, dt_rank) = 0;                // R; 0 = "auto" = ceil(D / 16)
  TORCH_ARG(bool, conv_bias) = true;
  TORCH_ARG(bool, bias) = false;                  // in_proj / out_proj bias
  TORCH_ARG(double, norm_eps) = 1e-5;
  TORCH_ARG(bool, residual_in_fp32) = true;
  TORCH_ARG(bool, tie_embeddings) = true;         // false: a separate lm_head.weight (V_pad, D)
  TORCH_ARG(double, dt_min) = 1e-3;               // Δ initialisation range (log-uniform)
  TORCH_ARG(double, dt_max) = 1e-1;
  TORCH_ARG(double, dt_init_floor) = 1e-4;
  TORCH_ARG(double, dt_scale) = 1.0;
  // Which selective-scan / conv kernels the mixer uses (kernels/kernel_impl.h). Auto = the fastest
  // for the device and dtype; Reference forces the loop-of-tensor-ops twins (benchmarks, parity).
  TORCH_ARG(kernels::KernelImpl, kernel_impl) = kernels::KernelImpl::Auto;
 public:
  // Derived (computed once from the above).
  int64_t d_inner() const { return expand_ * d_model_; }
  int64_t resolved_dt_rank() const { return dt_rank_ > 0 ? dt_rank_ : (d_model_ + 15) / 16; }
  int64_t padded_vocab() const {
    const int64_t m = std::max<int64_t>(1, pad_vocab_size_multiple_);
    return (vocab_size_ + m - 1) / m * m;
  }
};

// The mixer ("Mamba block" of Fig. 3): in_proj -> (x, z); causal depthwise conv; SiLU;
// x_proj -> (Δ, B, C); dt_proj; selective scan with D skip; y * SiLU(z); out_proj.
class MambaMixerImpl : public torch::nn::Module {
 public:
  explicit MambaMixerImpl(const MambaOptions& o);
  // x (B, L, D) -> (B, L, D). With `state` (preallocated by new_state), the prefill: the state
  // after x is written into it. `valid` (B, L) bool, optional: false on left-pad slots, whose conv
  // and scan inputs are zeroed so that the state stays as if the row started later.
  torch::Tensor forward(const torch::Tensor& x, LayerCache* state = nullptr, const torch::Tensor& valid = {});
  // One token: x (B, D) -> (B, D), updating `state` in place (O(1) in the sequence length); with
  // autograd enabled the state tensors are replaced instead (differentiable through many steps).
  torch::Tensor step(const torch::Tensor& x, LayerCache& state);
  // Zero conv_state (B, E, K) in the weights' dtype and ssm_state (B, E, N) fp32 on `device`.
  void new_state(LayerCache& state, int64_t batch, const torch::Device& device) const;

  MambaOptions options;
  torch::nn::Linear in_proj{nullptr}, x_proj{nullptr}, dt_proj{nullptr}, out_proj{nullptr};
  torch::nn::Conv1d conv1d{nullptr};
  torch::Tensor A_log, D;

 private:
  // A = -exp(A_log) (E, N), D (E) and the Δ bias (E) in fp32, as step() needs them. Without autograd they are
  // kept between steps and recomputed only when one of the three weights changes (its storage or its version
  // counter, which every in-place update bumps), so a decode step - and its CUDA graph - launches no kernel
  // for them. Under autograd step() computes them afresh, so that gradients reach A_log, D and the bias.
  struct StepConstants {
    torch::Tensor A, D, dt_bias;
    std::vector<std::pair<const void*, int64_t>> key;  // (data_ptr, version) of A_log, D, dt_proj->bias
  };
  StepConstants make_step_constants() const;  // computed now (under autograd: differentiable), key unset
  const StepConstants& step_constants();      // the kept ones, recomputed when the key changes
  StepConstants step_constants_;
};
TORCH_MODULE(MambaMixer);

// One residual layer: x + mixer(norm(x)) (ssm_lm.h); norm.*, mixer.* in the names above.
using MambaLayerImpl = ResidualLayerImpl<MambaMixerImpl>;

// The Mamba-1 LM: the SSM shell (ssm_lm.h) over MambaLayers. Initialisation as mixer_seq_simple's
// _init_weights: embeddings N(0, 0.02); in_proj / out_proj biases 0; out_proj rescaled by
// 1/sqrt(n_layer) (GPT-2's prenorm-residual rescaling).
class MambaLMImpl : public SsmLMImpl {
 public:
  explicit MambaLMImpl(const MambaOptions& o);
  std::string family() const override { return "mamba"; }
  MambaOptions options;
};
TORCH_MODULE(MambaLM);

// Reference twin of MambaLMImpl::forward (mamba_ref.cpp): transformers' MambaMixer.slow_forward
// written out with plain tensor ops (no kernels/, an explicit loop over L) on the same parameters.
// tokens (B, L) -> logits (B, L, V_pad), fp32. The parity tests' independent oracle.
torch::Tensor mamba_lm_forward_ref(MambaLMImpl& model, const torch::Tensor& tokens);

// Exact parameter count of MambaLM(o) (tied head counted once).
int64_t mamba_param_count(const MambaOptions& o);

}  // namespace ssmlab::models
