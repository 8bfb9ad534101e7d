// kernel_profile.cpp — kernel_profile.h: Kineto through LibTorch's C++ profiler API
// (torch/csrc/autograd/profiler_kineto.h: prepareProfiler, enableProfiler, disableProfiler).
#include "models/kernel_profile.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <set>
#include <utility>

#include <torch/csrc/autograd/profiler_kineto.h>

namespace ssmlab::models {

namespace {
namespace tap = torch::autograd::profiler;  // prepareProfiler, enableProfiler, disableProfiler, ProfilerResult
namespace tpi = torch::profiler::impl;      // ProfilerConfig, ProfilerState, ActivityType (1.13 and 2.x alike)

// A kernel event's duration in µs. LibTorch 1.x's KinetoEvent has durationUs(); later versions
// report nanoseconds (durationNs()). The first overload is taken where durationNs() exists.
template <typename E>
auto duration_us(const E& e, int) -> decltype(static_cast<double>(e.durationNs()), double()) {
  return static_cast<double>(e.durationNs()) / 1000.0;
}
template <typename E>
double duration_us(const E& e, long) {
  return static_cast<double>(e.durationUs());
}

bool has(const std::string& s, std::initializer_list<const char*> parts) {
  for (const char* p : parts)
    if (s.find(p) != std::string::npos) return true;
  return false;
}
}  // namespace

std::string kernel_category(const std::string& kernel_name) {
  std::string n = kernel_name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (has(n, {"scan_fwd_kernel", "scan_bwd_kernel", "selective_scan"})) return "selective_scan";
  if (has(n, {"state_update"})) return "state_update";
  if (has(n, {"conv1d"})) return "causal_conv1d";
  if (has(n, {"flash", "fmha", "attention"})) return "attention";
  if (has(n, {"gemm", "xmma", "cutlass", "nvjet", "cublas", "matmul", "splitkreduce"})) return "gemm";
  if (has(n, {"softmax", "nll_loss", "cross_entropy"})) return "softmax_cross_entropy";
  if (has(n, {"layer_norm", "layernorm", "rms_norm", "rmsnorm", "group_norm", "batch_norm"})) return "norm";
  if (has(n, {"adam", "multi_tensor_apply"})) return "optimizer";
  if (has(n, {"copy", "cast", "memcpy"})) return "copy_cast";
  if (has(n, {"reduce"})) return "reduction";
  if (has(n, {"fill", "memset"})) return "fill";
  if (has(n, {"elementwise"})) return "elementwise";
  return "other";
}

nlohmann::json KernelProfile::to_json() const {
  nlohmann::json j{{"available", available}};
  if (!available) {
    j["why"] = why;
    return j;
  }
  nlohmann::json t = nlohmann::json::array();
  for (const auto& [name, ms, n] : top) t.push_back({{"kernel", name}, {"ms", ms}, {"launches", n}});
  j.update({{"steps", steps},         {"kernel_ms", kernel_ms}, {"kernels", kernels},
            {"memory_ops", memory_ops}, {"category_ms", category_ms}, {"top", t}});
  return j;
}

KernelProfile profile_kernels(const std::function<void()>& step, int steps, const torch::Device& device, int top_n) {
  KernelProfile p;
  if (!device.is_cuda()) {
    p.why = "not a CUDA device (" + device.str() + "): only GPU kernels are profiled";
    return p;
  }
  if (steps < 1) {
    p.why = "no steps to profile";
    return p;
  }
  const tpi::ProfilerConfig config(tpi::ProfilerState::KINETO);
  const std::set<tpi::ActivityType> activities{tpi::ActivityType::CPU, tpi::ActivityType::CUDA};
  torch::cuda::synchronize();
  try {
    tap::prepareProfiler(config, activities);
    tap::enableProfiler(config, activities);
  } catch (const std::exception& e) {
    p.why = std::string("LibTorch's Kineto profiler is not available: ") + e.what();
    return p;
  }
  std::unique_ptr<tap::ProfilerResult> result;
  try {
    for (int i = 0; i < steps; ++i) step();
    torch::cuda::synchronize();
  } catch (...) {
    try { tap::disableProfiler(); } catch (...) {}
    throw;
  }
  result = tap::disableProfiler();
  std::map<std::string, std::pair<double, double>> per_kernel;  // name -> (µs, launches) over all steps
  double total_us = 0, launches = 0, memory_ops = 0;
  for (const auto& e : result->events()) {
    // GPU activity: kernels, and CUDA's "Memcpy ..." / "Memset ..." operations (counted apart from launches).
    // Kineto would also put GPU-side user annotations here; this code records none (no record_function ranges).
    if (e.deviceType() != c10::DeviceType::CUDA) continue;
    const std::string name = e.name();
    const double us = duration_us(e, 0);
    auto& k = per_kernel[name];
    k.first += us;
    k.second += 1;
    total_us += us;
    const bool memory_op = name.rfind("Memcpy", 0) == 0 || name.rfind("Memset", 0) == 0;
    (memory_op ? memory_ops : launches) += 1;
  }
  if (launches + memory_ops == 0) {
    p.why = "the profiler recorded no GPU kernels (no CUPTI in this LibTorch?)";
    return p;
  }
  p.available = true;
  p.steps = steps;
  p.kernel_ms = total_us / 1000.0 / steps;
  p.kernels = launches / steps;
  p.memory_ops = memory_ops / steps;
  std::vector<std::tuple<std::string, double, double>> all;
  for (const auto& [name, k] : per_kernel) {
    p.category_ms[kernel_category(name)] += k.first / 1000.0 / steps;
    all.emplace_back(name, k.first / 1000.0 / steps, k.second / steps);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return std::get<1>(a) > std::get<1>(b); });
  if (static_cast<int>(all.size()) > top_n) all.resize(std::max(0, top_n));
  p.top = std::move(all);
  return p;
}

}  // namespace ssmlab::models
