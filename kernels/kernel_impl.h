// kernel_impl.h — the one choice of implementation for every kernel in kernels/: the selective scan
// (selective_scan.h), the causal depthwise conv1d (causal_conv1d.h) and the SSD (ssd.h).
//
// Each kernel has a reference twin (plain LibTorch tensor ops, differentiable through autograd,
// slow and obviously correct) and fast paths; KernelImpl picks one:
//   Auto      — the fastest path available for the tensors' device and dtype (each header says which);
//   Reference — the twin (parity tests, benchmarks' baseline);
//   CpuFused  — the fused CPU kernel where one exists (the scan); other kernels fall back to their
//               default path (the conv's grouped conv1d, the chunked SSD);
//   Cuda      — the CUDA kernel where one exists (scan, conv; needs SSMLAB_WITH_CUDA); the SSD has
//               none yet and runs its chunked form on the tensors' device.
// The command line spells them auto | reference | cpu_fused | cuda (--kernel-impl, models/registry.h).
//
// Shape letters at the kernel boundary: docs/glossary.md, with ONE exception. The scan and the conv keep
// mamba-ssm's argument layout (B, D, L) (state-spaces/mamba, csrc/selective_scan/ and
// mamba_ssm/ops/selective_scan_interface.py), where upstream's D is the INNER width of the block,
// E = expand x d_model in the glossary, not d_model. Every kernels/ header uses D in that sense;
// models/ calls them with (B, E, L) tensors.
#pragma once

#include <string>
#include <vector>

namespace ssmlab::kernels {

enum class KernelImpl { Auto, Reference, CpuFused, Cuda };

// "auto" | "reference" | "cpu_fused" | "cuda".
const char* to_string(KernelImpl impl);
// The inverse of to_string; throws std::invalid_argument listing the accepted names otherwise.
KernelImpl kernel_impl_from_string(const std::string& name);
// Every accepted name, in enum order (for a flag's one_of list).
const std::vector<std::string>& kernel_impl_names();

// Whether this binary holds the CUDA scan and conv kernels (built with SSMLAB_WITH_CUDA), so that
// --kernel-impl cuda can be refused at start-up rather than at the first forward.
bool cuda_kernels_built();

}  // namespace ssmlab::kernels
