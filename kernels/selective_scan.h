// selective_scan.h — the one entry point for Mamba's selective scan (S6), whatever the device.
//
// Paper: Gu & Dao, "Mamba" (2023), Section 3.2 and Algorithm 2 (S6). Semantics follow mamba-ssm's
// selective_scan_fn / selective_scan_ref (state-spaces/mamba, mamba_ssm/ops/selective_scan_interface.py):
//
//   delta' = softplus(delta + delta_bias)        (bias and softplus optional)
//   h_t    = exp(delta'_t * A) ⊙ h_{t-1} + delta'_t * B_t * u_t     h: (D, N) per batch row
//   y_t    = <h_t, C_t> + D ⊙ u_t
//   out    = y ⊙ silu(z)                           (z optional)
//
// Shapes (letters: kernel_impl.h; D is upstream's inner width E, G the groups of B and C; in a shape,
// B is the batch, as an argument B and C are the SSM's input and output matrices):
//   u, delta, z : (B, D, L)        A : (D, N)        D (the skip), delta_bias : (D)
//   B, C        : (B, N, L)  or grouped (B, G, N, L), channel d uses group d / (D / G)
// Returns out (B, D, L) in u's dtype, and, if asked, the last state (B, D, N) in fp32
// (fp64 for fp64 inputs). Optional tensors are passed as undefined torch::Tensor().
// Errors: std::invalid_argument naming the tensor and the expected shape (check_scan_inputs), or,
// for a fused path, the dtype / contiguity / device it needs.
//
// Implementations (KernelImpl, kernel_impl.h; Auto picks the fastest available for the device/dtype):
//   Reference — selective_scan_ref.cpp: a sequential loop of tensor ops, fp32/fp64 accumulation.
//   CpuFused  — selective_scan_cpu.cpp: fused CPU kernel, forward and backward (CPU fp32/fp64).
//   Cuda      — selective_scan_cuda.cpp + cuda/: CUDA kernels (fp32/bf16; N <= 256; a D / G that is not a
//               multiple of 32 runs on zero-padded channels, which needs the same G in B and C).
#pragma once

#include <torch/torch.h>

#include "kernels/kernel_impl.h"

namespace ssmlab::kernels {

struct ScanResult {
  torch::Tensor out;         // (B, D, L)
  torch::Tensor last_state;  // (B, D, N), undefined unless return_last_state
};

// Validates shapes/dtypes and throws std::invalid_argument naming the tensor and the
// expected shape on a mismatch.
void check_scan_inputs(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                       const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D,
                       const torch::Tensor& z, const torch::Tensor& delta_bias);

ScanResult selective_scan(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                          const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D = {},
                          const torch::Tensor& z = {}, const torch::Tensor& delta_bias = {},
                          bool delta_softplus = false, bool return_last_state = false,
                          KernelImpl impl = KernelImpl::Auto);

// The reference twin: differentiable through autograd, slow, obviously correct.
ScanResult selective_scan_ref(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                              const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D = {},
                              const torch::Tensor& z = {}, const torch::Tensor& delta_bias = {},
                              bool delta_softplus = false, bool return_last_state = false);

}  // namespace ssmlab::kernels
