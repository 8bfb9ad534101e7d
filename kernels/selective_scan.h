// selective_scan.h — the one entry point for Mamba's selective scan (S6), whatever the device.
//
// Semantics follow mamba-ssm's selective_scan_fn / selective_scan_ref
// (state-spaces/mamba, mamba_ssm/ops/selective_scan_interface.py):
//
//   delta' = softplus(delta + delta_bias)        (bias and softplus optional)
//   h_t    = exp(delta'_t * A) ⊙ h_{t-1} + delta'_t * B_t * u_t     h: (D, N) per batch row
//   y_t    = <h_t, C_t> + D ⊙ u_t
//   out    = y ⊙ silu(z)                           (z optional)
//
// Shapes (legend: Bt batch, D channels = d_inner, L sequence length, N state size, G groups; upstream's
// D here is the inner width E of docs/glossary.md, not d_model):
//   u, delta, z : (Bt, D, L)        A : (D, N)        D, delta_bias : (D)
//   B, C        : (Bt, N, L)  or grouped (Bt, G, N, L), channel d uses group d / (D / G)
// Returns out (Bt, D, L) in u's dtype, and, if asked, the last state (Bt, D, N) in fp32
// (fp64 for fp64 inputs). Optional tensors are passed as undefined torch::Tensor().
//
// Implementations (chosen by `impl`, Auto picks the fastest available for the device/dtype):
//   Reference — selective_scan_ref.cpp: a sequential loop of tensor ops, fp32/fp64 accumulation.
//   CpuFused  — fused CPU kernel (kernels issue), CUDA — CUDA kernel (kernels issue).
#pragma once

#include <string>

#include <torch/torch.h>

namespace ssmlab::kernels {

enum class ScanImpl { Auto, Reference, CpuFused, Cuda };

struct ScanResult {
  torch::Tensor out;         // (Bt, D, L)
  torch::Tensor last_state;  // (Bt, D, N), undefined unless return_last_state
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
                          ScanImpl impl = ScanImpl::Auto);

// The reference twin: differentiable through autograd, slow, obviously correct.
ScanResult selective_scan_ref(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                              const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D = {},
                              const torch::Tensor& z = {}, const torch::Tensor& delta_bias = {},
                              bool delta_softplus = false, bool return_last_state = false);

const char* to_string(ScanImpl impl);
// Parses "auto" | "reference" | "cpu_fused" | "cuda"; throws std::invalid_argument otherwise.
ScanImpl scan_impl_from_string(const std::string& name);
// Whether this binary holds the CUDA scan and conv kernels (built with SSMLAB_WITH_CUDA), so that
// --kernel-impl cuda can be refused at start-up rather than at the first forward.
bool cuda_kernels_built();

// Mamba's causal depthwise conv1d followed by SiLU:
//   out[b, d, t] = silu(bias[d] + sum_{k<W} weight[d, k] * x[b, d, t - W + 1 + k])   (x = 0 before t = 0)
// x (Bt, D, L), weight (D, W), bias (D) or undefined; returns (Bt, D, L) in x's dtype.
// Auto/Cuda use the fused CUDA kernel for CUDA fp32/bf16 inputs with W <= 4 (when built);
// everything else goes through LibTorch's grouped conv1d (the reference twin).
torch::Tensor causal_conv1d_silu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                 ScanImpl impl = ScanImpl::Auto);
torch::Tensor causal_conv1d_silu_ref(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

}  // namespace ssmlab::kernels
