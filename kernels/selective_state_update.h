// selective_state_update.h — one decode step of Mamba's selective SSM (S6): a single token, state in place.
//
// The recurrence of selective_scan.h for L = 1, as mamba-ssm's selective_state_update
// (state-spaces/mamba, mamba_ssm/ops/triton/selective_state_update.py), Mamba-1 layout:
//
//   Δ = softplus(dt + dt_bias)                 (bias and softplus optional)
//   h = exp(Δ A) ⊙ h + Δ B x                   h: (D, N) per batch row, fp32
//   y = (<h, C> + D_skip ⊙ x) ⊙ silu(z)        (D_skip and z optional)
//
// Shapes (Bt batch, D channels = d_inner, N = d_state):
//   state (Bt, D, N) fp32;  x, dt, z (Bt, D);  A (D, N) fp32;  B, C (Bt, N);  D_skip, dt_bias (D) fp32.
// Returns y (Bt, D) in x's dtype. `state` is updated in place — unless autograd is on
// (torch::GradMode::is_enabled()), when `state` is replaced by a new tensor and the old one stays
// untouched for backward (the stride-memory hybrid trains through decode steps, models/smt.h).
//
// Implementations (KernelImpl): Reference — LibTorch ops, any device and dtype, differentiable;
// Cuda — one fused kernel (kernels/cuda/state_update_cuda.cu): CUDA, x in fp32/bf16 with dt, z, B, C in
// x's dtype, A/D_skip/dt_bias fp32, all on state's device, contiguous (B, C and z may be rows of a wider
// tensor: any row stride, contiguous columns), N <= 4096, Bt <= 65535, and no input that requires grad.
// Cuda always updates `state` in place (also with grad mode on, when nothing requires grad). Auto takes
// Cuda where it applies and grad mode is off, else the reference; CpuFused means the reference (there is
// no fused CPU step).
// Errors: std::invalid_argument naming the tensor and the expected shape; Cuda on inputs it does not take
// (or in a build without SSMLAB_WITH_CUDA) says what it needs; std::runtime_error if the launch fails.
#pragma once

#include <torch/torch.h>

#include "kernels/kernel_impl.h"

namespace ssmlab::kernels {

// Shape and dtype checks shared by both implementations.
void check_state_update_inputs(const torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                               const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                               const torch::Tensor& D_skip, const torch::Tensor& z, const torch::Tensor& dt_bias);

torch::Tensor selective_state_update(torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                     const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                     const torch::Tensor& D_skip = {}, const torch::Tensor& z = {},
                                     const torch::Tensor& dt_bias = {}, bool dt_softplus = false,
                                     KernelImpl impl = KernelImpl::Auto);

// The reference twin (LibTorch ops; what Mamba's step computed before the fused kernel).
torch::Tensor selective_state_update_ref(torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                         const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                         const torch::Tensor& D_skip = {}, const torch::Tensor& z = {},
                                         const torch::Tensor& dt_bias = {}, bool dt_softplus = false);

}  // namespace ssmlab::kernels
