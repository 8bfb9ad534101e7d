// kernel_profile.h — where a GPU step's time goes: LibTorch's profiler (Kineto, the engine behind
// torch.profiler) over a few calls of a step, with the GPU kernels' time summed per category.
//
// Used by bench_mamba_train --profile-steps N (issue 16, goal 1: "profile the step first"). Per step:
//   kernel_ms   sum of the GPU kernels' and memory operations' durations (one stream: they do not overlap), ms
//   kernels     number of GPU kernels launched;  memory_ops: CUDA memcpy/memset operations
//   category_ms kernel_ms split by kernel_category() of each kernel's name
//   top         the kernels with the most time (name, ms per step, launches per step)
// The step's wall time minus kernel_ms is time the GPU spent idle: launch overhead, host work, syncs.
// (The wall time comes from unprofiled steps; the profiler's own overhead does not enter kernel_ms.)
// RMSNorm in ssmlab is LibTorch ops, so its cost shows under "reduction" and "elementwise", not "norm".
//
// Availability: needs a CUDA device and a LibTorch built with Kineto and CUPTI (the pip/conda wheels are).
// Elsewhere (CPU, Debian's LibTorch) profile_kernels returns available = false and `why`; it never throws
// for that reason. Exceptions thrown by the step itself propagate (the profiler is stopped first).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace ssmlab::models {

struct KernelProfile {
  bool available = false;
  std::string why;                            // when not available: the reason
  int steps = 0;                              // calls of the step profiled
  double kernel_ms = 0;                       // per step
  double kernels = 0;                         // kernel launches per step
  double memory_ops = 0;                      // memcpy / memset operations per step
  std::map<std::string, double> category_ms;  // per step
  std::vector<std::tuple<std::string, double, double>> top;  // (kernel name, ms per step, launches per step)
  nlohmann::json to_json() const;
};

// The category of a GPU kernel, from its (demangled) name: "selective_scan", "state_update",
// "causal_conv1d", "gemm", "attention", "softmax_cross_entropy", "norm", "optimizer", "copy_cast",
// "reduction", "fill", "elementwise", or "other". The rules are substring tests, first match wins (see
// kernel_profile.cpp); "copy_cast" is tested before "elementwise" since LibTorch's casts run through its
// elementwise kernels (direct_copy_kernel).
std::string kernel_category(const std::string& kernel_name);

// Runs `step` `steps` times under the profiler (after synchronising `device`), synchronises, and sums.
// `top_n` kernels are kept in `top`.
KernelProfile profile_kernels(const std::function<void()>& step, int steps, const torch::Device& device, int top_n = 12);

}  // namespace ssmlab::models
