// selective_scan.cpp — the dispatch behind selective_scan.h, the input checks of the fused kernels, and
// the stand-ins for the CUDA entry points in a build without SSMLAB_WITH_CUDA.
//
// Auto: CUDA tensors (fp32/bf16, N <= 256; any D: widths that are not a multiple of 32 are padded) → CUDA kernels when this binary was
//       built with SSMLAB_WITH_CUDA;
//       CPU tensors in fp32/fp64 → the fused CPU kernel; anything else → the reference.
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "kernels/selective_scan_internal.h"

namespace ssmlab::kernels {

void check_fused_inputs(const char* impl, const torch::Tensor& u, const torch::Tensor& delta,
                        const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                        const torch::Tensor& D, const torch::Tensor& z, const torch::Tensor& delta_bias,
                        std::initializer_list<torch::ScalarType> dtypes) {
  check_scan_inputs(u, delta, A, B, C, D, z, delta_bias);
  const std::string who = std::string("selective_scan[") + impl + "]: ";
  bool dtype_ok = false;
  for (auto d : dtypes) dtype_ok |= u.scalar_type() == d;
  if (!dtype_ok) {
    std::ostringstream os;
    os << who << "u has dtype " << u.scalar_type() << ", this kernel takes";
    for (auto d : dtypes) os << " " << d;
    throw std::invalid_argument(os.str());
  }
  const std::pair<const char*, const torch::Tensor*> all[] = {{"u", &u}, {"delta", &delta}, {"A", &A}, {"B", &B},
                                                              {"C", &C}, {"D", &D}, {"z", &z}, {"delta_bias", &delta_bias}};
  for (const auto& [name, t] : all) {
    if (!t->defined()) continue;
    if (!t->is_contiguous()) {
      std::ostringstream os;
      os << who << name << " must be contiguous (shape " << t->sizes() << ", strides " << t->strides()
         << "); call .contiguous() on it";
      throw std::invalid_argument(os.str());
    }
    if (t->device() != u.device()) {
      std::ostringstream os;
      os << who << name << " is on " << t->device() << " but u is on " << u.device();
      throw std::invalid_argument(os.str());
    }
    if (!t->is_floating_point()) {
      std::ostringstream os;
      os << who << name << " must be floating point, got " << t->scalar_type();
      throw std::invalid_argument(os.str());
    }
  }
  for (const auto& [name, t] : {all[1], all[6]}) {
    if (t->defined() && t->scalar_type() != u.scalar_type()) {
      std::ostringstream os;
      os << who << name << " has dtype " << t->scalar_type() << " but u has " << u.scalar_type();
      throw std::invalid_argument(os.str());
    }
  }
}

#ifndef SSMLAB_WITH_CUDA
bool cuda_scan_built() { return false; }
bool cuda_scan_supports(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&) {
  return false;
}
torch::Tensor causal_conv1d_silu_cuda(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, bool) {
  throw std::invalid_argument("causal_conv1d[cuda]: not built into this binary (needs SSMLAB_WITH_CUDA)");
}
torch::Tensor causal_conv1d_update_cuda(torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, bool) {
  throw std::invalid_argument("causal_conv1d_update[cuda]: not built into this binary (needs SSMLAB_WITH_CUDA)");
}
ScanResult selective_scan_cuda(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                               const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                               bool, bool) {
  throw std::invalid_argument("selective_scan: implementation 'cuda' is not built into this binary "
                              "(needs nvcc and a CUDA LibTorch: SSMLAB_WITH_CUDA)");
}
#endif

namespace {
// The reference scan on a GPU is tens of times slower than the kernel: say so once per reason, on stderr.
void warn_reference_on_gpu(const torch::Tensor& u, const torch::Tensor& A, const torch::Tensor& B,
                           const torch::Tensor& C) {
  std::ostringstream why;
  const auto dt = u.scalar_type();
  if (!cuda_scan_built())
    why << "this build has no CUDA kernels (SSMLAB_WITH_CUDA off)";
  else if (dt != torch::kFloat32 && dt != torch::kBFloat16)
    why << "the CUDA kernel takes fp32 and bf16, not " << c10::toString(dt);
  else
    why << "the CUDA kernel needs 1 <= d_state <= " << kCudaScanMaxStates << " and, when d_inner / groups is not a multiple "
        << "of 32, the same groups in B and C; "
        << "u is " << u.sizes() << ", A " << A.sizes() << ", B " << B.sizes() << ", C " << C.sizes();
  static std::mutex mu;
  static std::set<std::string> said;
  std::lock_guard<std::mutex> lock(mu);
  if (said.insert(why.str()).second)
    std::cerr << "warning: selective_scan runs the slow reference scan on the GPU: " << why.str() << "\n";
}
}  // namespace

ScanResult selective_scan(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                          const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D,
                          const torch::Tensor& z, const torch::Tensor& delta_bias, bool delta_softplus,
                          bool return_last_state, KernelImpl impl) {
  if (impl == KernelImpl::Auto) {
    if (!u.defined()) throw std::invalid_argument("selective_scan: u is undefined, expected shape (B, D, L)");
    const auto dt = u.scalar_type();
    if (u.is_cuda() && cuda_scan_built() && (dt == torch::kFloat32 || dt == torch::kBFloat16) &&
        cuda_scan_supports(u, A, B, C))
      impl = KernelImpl::Cuda;
    else if (u.device().is_cpu() && (dt == torch::kFloat32 || dt == torch::kFloat64))
      impl = KernelImpl::CpuFused;
    else
      impl = KernelImpl::Reference;
    if (impl == KernelImpl::Reference && u.is_cuda()) warn_reference_on_gpu(u, A, B, C);
  }
  switch (impl) {
    case KernelImpl::CpuFused:
      return selective_scan_cpu(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state);
    case KernelImpl::Cuda:
      return selective_scan_cuda(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state);
    default:
      return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state);
  }
}

}  // namespace ssmlab::kernels
