// kernel_impl.cpp — KernelImpl names (kernel_impl.h).
#include "kernels/kernel_impl.h"

#include <stdexcept>

#include "kernels/selective_scan_internal.h"

namespace ssmlab::kernels {

const char* to_string(KernelImpl impl) {
  switch (impl) {
    case KernelImpl::Auto: return "auto";
    case KernelImpl::Reference: return "reference";
    case KernelImpl::CpuFused: return "cpu_fused";
    case KernelImpl::Cuda: return "cuda";
  }
  return "?";
}

const std::vector<std::string>& kernel_impl_names() {
  static const std::vector<std::string> names{to_string(KernelImpl::Auto), to_string(KernelImpl::Reference),
                                              to_string(KernelImpl::CpuFused), to_string(KernelImpl::Cuda)};
  return names;
}

KernelImpl kernel_impl_from_string(const std::string& name) {
  for (auto impl : {KernelImpl::Auto, KernelImpl::Reference, KernelImpl::CpuFused, KernelImpl::Cuda})
    if (name == to_string(impl)) return impl;
  throw std::invalid_argument("unknown kernel implementation '" + name +
                              "' (expected auto, reference, cpu_fused or cuda)");
}

bool cuda_kernels_built() { return cuda_scan_built(); }

}  // namespace ssmlab::kernels
