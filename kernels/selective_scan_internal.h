// selective_scan_internal.h — what the dispatch (selective_scan.cpp) needs from the fast backends.
// Not part of the public API: models and experiments include selective_scan.h only.
#pragma once

#include <string>

#include "kernels/selective_scan.h"

namespace ssmlab::kernels {

// Whether autograd would need a backward through these tensors: grad mode on and any defined one requires
// grad. The CUDA scan saves its states then; the decode-step kernels, which have no backward, refuse.
inline bool any_requires_grad(std::initializer_list<torch::Tensor> ts) {
  if (!torch::GradMode::is_enabled()) return false;
  for (const auto& t : ts)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

// Shape checks (check_scan_inputs) plus what the fused kernels assume: every tensor contiguous,
// u/delta/z of one floating dtype among `dtypes`, all on u's device. Throws std::invalid_argument
// naming the tensor, e.g. "selective_scan[cpu_fused]: B must be contiguous (shape [4, 16, 512], strides [...])".
void check_fused_inputs(const char* impl, const torch::Tensor& u, const torch::Tensor& delta,
                        const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                        const torch::Tensor& D, const torch::Tensor& z, const torch::Tensor& delta_bias,
                        std::initializer_list<torch::ScalarType> dtypes);

// The autograd glue shared by the fused kernels' torch::autograd::Function (CPU and CUDA): a kernel
// computes its gradients in its own dtype and layout, and hands them back in the caller's.
// Forward: save_grad_layout remembers the dtypes of A, B, C, D, delta_bias (an undefined D or
// delta_bias: A's dtype, never used) and whether B/C had a group axis (4-D) or were shared (3-D).
inline void save_grad_layout(torch::autograd::AutogradContext* ctx, const torch::Tensor& A, const torch::Tensor& B,
                             const torch::Tensor& C, const torch::Tensor& D, const torch::Tensor& delta_bias) {
  auto dtype = [&](const torch::Tensor& t) { return static_cast<int64_t>((t.defined() ? t : A).scalar_type()); };
  ctx->saved_data["B_dim"] = B.dim();
  ctx->saved_data["C_dim"] = C.dim();
  ctx->saved_data["A_dtype"] = dtype(A);
  ctx->saved_data["B_dtype"] = dtype(B);
  ctx->saved_data["C_dtype"] = dtype(C);
  ctx->saved_data["D_dtype"] = dtype(D);
  ctx->saved_data["bias_dtype"] = dtype(delta_bias);
}
// Backward: casts dA (D, N), dB/dC (Bt, G, N, L; the group axis dropped for a 3-D B/C, made
// contiguous), dD (D) and ddelta_bias (D) to the saved dtypes, in place; undefined ones stay undefined.
inline void restore_grad_layout(torch::autograd::AutogradContext* ctx, torch::Tensor& dA, torch::Tensor& dB,
                                torch::Tensor& dC, torch::Tensor& dD, torch::Tensor& dbias) {
  auto cast = [&](torch::Tensor& g, const char* key) {
    if (g.defined()) g = g.to(static_cast<torch::ScalarType>(ctx->saved_data[key].toInt()));
  };
  if (ctx->saved_data["B_dim"].toInt() == 3) dB = dB.squeeze(1);
  if (ctx->saved_data["C_dim"].toInt() == 3) dC = dC.squeeze(1);
  dB = dB.contiguous();
  dC = dC.contiguous();
  cast(dA, "A_dtype");
  cast(dB, "B_dtype");
  cast(dC, "C_dtype");
  cast(dD, "D_dtype");
  cast(dbias, "bias_dtype");
}

// selective_scan_cpu.cpp: fused CPU kernel (fp32/fp64), differentiable (torch::autograd::Function).
ScanResult selective_scan_cpu(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                              const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D,
                              const torch::Tensor& z, const torch::Tensor& delta_bias, bool delta_softplus,
                              bool return_last_state);

// selective_scan_cuda.cpp (built only with SSMLAB_WITH_CUDA): CUDA kernels (fp32/bf16 inputs).
bool cuda_scan_built();
// What the CUDA kernels take: 1 <= N <= kCudaScanMaxStates (16 states per launch, more in several launches;
// the limit is mamba-ssm's); D / G a multiple of 32 (one warp of channels per block), or any D / G when B and
// C have the same groups (selective_scan_cuda pads each group's channels to the next multiple of 32).
constexpr int64_t kCudaScanMaxStates = 256;
bool cuda_scan_supports(const torch::Tensor& u, const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C);
ScanResult selective_scan_cuda(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                               const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D,
                               const torch::Tensor& z, const torch::Tensor& delta_bias, bool delta_softplus,
                               bool return_last_state);

// Causal depthwise conv1d (+ SiLU) on CUDA, differentiable: x (Bt, D, L) fp32/bf16 contiguous,
// weight (D, W) with W <= 4, bias (D) or undefined. Throws without SSMLAB_WITH_CUDA.
torch::Tensor causal_conv1d_silu_cuda(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                      bool silu = true);
// One decode step of it, in place (causal_conv1d.h, causal_conv1d_update): conv_state (Bt, D, W) and x (Bt, D)
// of one dtype (fp32/bf16; x's rows may be strided, its last dim contiguous), weight (D, W) W <= 4, bias (D)
// or undefined; returns (Bt, D). No autograd. Throws without SSMLAB_WITH_CUDA.
torch::Tensor causal_conv1d_update_cuda(torch::Tensor& conv_state, const torch::Tensor& x, const torch::Tensor& weight,
                                        const torch::Tensor& bias, bool silu);
// Whether causal_conv1d_update_cuda takes these tensors (a pure check, compiled in every build; Auto and the
// binding share it); `why` gets the first reason it does not.
bool conv_update_cuda_supports(const torch::Tensor& conv_state, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, std::string* why);

// The fused decode step of selective_state_update.h (selective_state_update_cuda.cpp; a stand-in that throws
// in a build without SSMLAB_WITH_CUDA), and whether it takes these tensors (the same kind of check as above,
// defined in selective_state_update.cpp).
torch::Tensor selective_state_update_cuda(torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                          const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                          const torch::Tensor& D_skip, const torch::Tensor& z,
                                          const torch::Tensor& dt_bias, bool dt_softplus);
bool state_update_cuda_supports(const torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                const torch::Tensor& D_skip, const torch::Tensor& z, const torch::Tensor& dt_bias,
                                std::string* why);

}  // namespace ssmlab::kernels
