// causal_conv1d.cpp — the dispatch and the reference twin of causal_conv1d.h. The CUDA kernel is
// cuda/conv1d_cuda.cu behind selective_scan_cuda.cpp's binding (causal_conv1d_silu_cuda).
#include "kernels/causal_conv1d.h"

#include <stdexcept>
#include <string>

#include "kernels/selective_scan_internal.h"

namespace ssmlab::kernels {

torch::Tensor causal_conv1d_silu_ref(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (!x.defined() || x.dim() != 3) throw std::invalid_argument("causal_conv1d: x must have shape (B, D, L)");
  if (!weight.defined() || weight.dim() != 2 || weight.size(0) != x.size(1))
    throw std::invalid_argument("causal_conv1d: weight must have shape (D=" + std::to_string(x.size(1)) + ", W)");
  const int64_t D = x.size(1), L = x.size(2), W = weight.size(1);
  namespace F = torch::nn::functional;
  auto y = F::conv1d(x, weight.unsqueeze(1), F::Conv1dFuncOptions().bias(bias).padding(W - 1).groups(D));  // (B, D, L+W-1)
  return torch::silu(y.narrow(2, 0, L));                                                                   // (B, D, L)
}

torch::Tensor causal_conv1d_silu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                 KernelImpl impl) {
  const bool cuda_ok = x.defined() && x.is_cuda() && cuda_scan_built() && weight.defined() && weight.dim() == 2 &&
                       weight.size(1) <= 4 &&
                       (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16);
  if (impl == KernelImpl::Cuda || (impl == KernelImpl::Auto && cuda_ok))
    return causal_conv1d_silu_cuda(x.contiguous(), weight.contiguous(), bias, /*silu=*/true);
  return causal_conv1d_silu_ref(x, weight, bias);
}

}  // namespace ssmlab::kernels
