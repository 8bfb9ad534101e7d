// causal_conv1d.h — Mamba's causal depthwise conv1d followed by SiLU (the short convolution before the
// scan in Mamba-1, before the SSD in Mamba-2).
//
// Paper: Gu & Dao, "Mamba" (2023), Section 3.4 and Fig. 3 (the "Conv" then "σ" of the block).
// Upstream: Dao-AILab/causal-conv1d, causal_conv1d_fn(x, weight, bias, activation="silu") and its
// causal_conv1d_ref.
//
//   out[b, d, t] = silu(bias[d] + sum_{k<W} weight[d, k] * x[b, d, t - W + 1 + k])   (x = 0 before t = 0)
//
// Shapes (letters: kernel_impl.h; D is upstream's inner width, W the kernel width = d_conv):
//   x (B, D, L), weight (D, W), bias (D) or undefined; returns (B, D, L) in x's dtype.
// Errors: std::invalid_argument when x is not 3-D or weight is not (D, W); KernelImpl::Cuda on a
// binary without SSMLAB_WITH_CUDA, or on CPU tensors.
#pragma once

#include <torch/torch.h>

#include "kernels/kernel_impl.h"

namespace ssmlab::kernels {

// Auto and Cuda use the fused CUDA kernel for CUDA fp32/bf16 inputs with W <= 4 (when built);
// everything else (Auto otherwise, Reference, CpuFused) goes through the reference twin.
torch::Tensor causal_conv1d_silu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                 KernelImpl impl = KernelImpl::Auto);

// The reference twin: LibTorch's grouped conv1d with W - 1 zeros of left padding, then SiLU.
torch::Tensor causal_conv1d_silu_ref(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// One decode step (Dao-AILab/causal-conv1d's causal_conv1d_update): the state holds the last W inputs,
// newest last; it is shifted left by one and x appended, then
//   out[b, d] = silu(bias[d] + sum_k weight[d, k] * conv_state[b, d, k])          (silu optional)
// Shapes: conv_state (B, D, W) in x's dtype (equal to the weights' in Mamba), x (B, D) (rows may be
// strided), weight (D, W), bias (D) or undefined; returns (B, D) in x's dtype. conv_state is updated in place, except under autograd
// (torch::GradMode::is_enabled()), when it is replaced by a new tensor (the old one stays for backward).
// Auto and Cuda use one fused kernel for CUDA tensors on one device, conv_state contiguous and x of its
// dtype (fp32/bf16), W <= 4, no autograd; everything else goes through the reference twin (LibTorch ops:
// what Mamba's step computed before).
// Errors: std::invalid_argument for shapes that do not match; Cuda on inputs it does not take says why;
// std::runtime_error if the launch fails.
torch::Tensor causal_conv1d_update(torch::Tensor& conv_state, const torch::Tensor& x, const torch::Tensor& weight,
                                   const torch::Tensor& bias, bool silu = true, KernelImpl impl = KernelImpl::Auto);
torch::Tensor causal_conv1d_update_ref(torch::Tensor& conv_state, const torch::Tensor& x, const torch::Tensor& weight,
                                       const torch::Tensor& bias, bool silu = true);

}  // namespace ssmlab::kernels
