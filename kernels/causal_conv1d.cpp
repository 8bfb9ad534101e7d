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

namespace {
void check_update_inputs(const torch::Tensor& conv_state, const torch::Tensor& x, const torch::Tensor& weight,
                         const torch::Tensor& bias) {
  if (!conv_state.defined() || conv_state.dim() != 3)
    throw std::invalid_argument("causal_conv1d_update: conv_state must have shape (B, D, W)");
  const int64_t B = conv_state.size(0), D = conv_state.size(1), W = conv_state.size(2);
  const std::string bd = "(" + std::to_string(B) + ", " + std::to_string(D) + ")";
  if (!x.defined() || x.dim() != 2 || x.size(0) != B || x.size(1) != D)
    throw std::invalid_argument("causal_conv1d_update: x must have shape " + bd + " (conv_state is (B, D, W) = (" +
                                std::to_string(B) + ", " + std::to_string(D) + ", " + std::to_string(W) + "))");
  if (!weight.defined() || weight.dim() != 2 || weight.size(0) != D || weight.size(1) != W)
    throw std::invalid_argument("causal_conv1d_update: weight must have shape (" + std::to_string(D) + ", " +
                                std::to_string(W) + ")");
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != D))
    throw std::invalid_argument("causal_conv1d_update: bias must have shape (" + std::to_string(D) + ")");
}
}  // namespace

torch::Tensor causal_conv1d_update_ref(torch::Tensor& conv_state, const torch::Tensor& x, const torch::Tensor& weight,
                                       const torch::Tensor& bias, bool silu) {
  check_update_inputs(conv_state, x, weight, bias);
  const int64_t W = conv_state.size(2);
  if (torch::GradMode::is_enabled()) {  // a new state: the old one may be saved for backward
    conv_state = torch::cat({conv_state.narrow(2, 1, W - 1), x.to(conv_state.scalar_type()).unsqueeze(2)}, 2);
  } else {
    if (W > 1) conv_state.narrow(2, 0, W - 1).copy_(conv_state.narrow(2, 1, W - 1).clone());
    conv_state.select(2, W - 1).copy_(x);
  }
  auto u = (conv_state * weight).sum(-1);  // (B, D)
  if (bias.defined()) u = u + bias;
  if (silu) u = torch::silu(u);
  return u.to(x.scalar_type());
}

bool conv_update_cuda_supports(const torch::Tensor& conv_state, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, std::string* why) {
  auto no = [&](const std::string& w) {
    if (why) *why = w;
    return false;
  };
  if (!cuda_scan_built()) return no("this build has no CUDA kernels (SSMLAB_WITH_CUDA off)");
  if (!conv_state.defined() || !conv_state.is_cuda() || conv_state.dim() != 3) return no("conv_state must be (B, D, W) on CUDA");
  const auto dt = conv_state.scalar_type();
  if (dt != torch::kFloat32 && dt != torch::kBFloat16) return no("conv_state must be fp32 or bf16");
  if (!conv_state.is_contiguous()) return no("conv_state must be contiguous");
  if (conv_state.size(2) > 4) return no("the kernel takes W <= 4");
  if (!x.defined() || x.scalar_type() != dt) return no("x must have conv_state's dtype");
  if (x.dim() != 2 || x.stride(1) != 1) return no("x must be (B, D) with a contiguous last dim");
  const torch::Tensor* same_device[] = {&x, &weight, &bias};
  for (const auto* t : same_device)
    if (t->defined() && t->device() != conv_state.device()) return no("x, weight and bias must be on conv_state's device");
  return true;
}

torch::Tensor causal_conv1d_update(torch::Tensor& conv_state, const torch::Tensor& x, const torch::Tensor& weight,
                                   const torch::Tensor& bias, bool silu, KernelImpl impl) {
  if (impl == KernelImpl::Auto)
    impl = !torch::GradMode::is_enabled() && conv_update_cuda_supports(conv_state, x, weight, bias, nullptr)
               ? KernelImpl::Cuda
               : KernelImpl::Reference;
  if (impl == KernelImpl::Cuda) {
    check_update_inputs(conv_state, x, weight, bias);
    return causal_conv1d_update_cuda(conv_state, x, weight, bias, silu);
  }
  return causal_conv1d_update_ref(conv_state, x, weight, bias, silu);
}

}  // namespace ssmlab::kernels
