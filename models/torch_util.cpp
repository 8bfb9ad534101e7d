// torch_util.cpp — device resolution, threads, seeding, autocast, RNG state and peak memory (see torch_util.h).
#include "models/torch_util.h"

#include <ATen/autocast_mode.h>
#include <sys/resource.h>
#ifdef SSMLAB_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <sstream>
#include <stdexcept>
#include <thread>

#include "models/lm.h"

namespace ssmlab::models {

int64_t count_params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters(/*recurse=*/true)) n += p.numel();
  return n;
}

torch::Device LanguageModelImpl::device() const {
  auto ps = parameters();
  return ps.empty() ? torch::Device(torch::kCPU) : ps.front().device();
}

torch::ScalarType LanguageModelImpl::dtype() const {
  auto ps = parameters();
  return ps.empty() ? torch::kFloat32 : ps.front().scalar_type();
}

std::string torch_version_string() {
  std::ostringstream os;
  os << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "." << TORCH_VERSION_PATCH;
  if (torch::cuda::is_available())
    os << " (CUDA, " << torch::cuda::device_count() << " GPU)";
  else
    os << " (CPU)";
  return os.str();
}

torch::Device resolve_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw std::invalid_argument("--device " + spec + " requested but CUDA is not available (LibTorch " +
                                  torch_version_string() + "); use --device cpu or --device auto");
    torch::Device d(spec == "cuda" ? std::string("cuda:0") : spec);
    if (d.index() >= static_cast<int>(torch::cuda::device_count()))
      throw std::invalid_argument("--device " + spec + ": only " + std::to_string(torch::cuda::device_count()) +
                                  " CUDA device(s) visible");
    return d;
  }
  throw std::invalid_argument("--device must be auto, cpu, cuda or cuda:<i> (got '" + spec + "')");
}

void torch_set_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
}

void seed_everything(std::uint64_t seed, bool deterministic) {
  torch::manual_seed(seed);  // CPU generator and, when present, every CUDA generator
  if (deterministic) at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
}

// ---- autocast: the API moved from set_enabled/set_autocast_gpu_dtype (<= 2.3) to
// ---- set_autocast_enabled(device_type, ...) / set_autocast_dtype(device_type, ...) (>= 2.4).
AutocastGuard::AutocastGuard(const torch::Device& device, bool enabled) {
  if (!enabled || !device.is_cuda()) return;
  active_ = true;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
  prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
  prev_enabled_ = at::autocast::is_enabled();
  prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::set_enabled(true);
#endif
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
  at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
#else
  at::autocast::set_enabled(prev_enabled_);
  at::autocast::set_autocast_gpu_dtype(prev_dtype_);
#endif
}

std::optional<at::ScalarType> cuda_autocast_dtype() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  if (at::autocast::is_autocast_enabled(at::kCUDA)) return at::autocast::get_autocast_dtype(at::kCUDA);
#else
  if (at::autocast::is_enabled()) return at::autocast::get_autocast_gpu_dtype();
#endif
  return std::nullopt;
}

RngState get_rng_state() {
  RngState s;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    s.cpu = gen.get_state();
  }
  if (torch::cuda::is_available()) {
    auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, 0));
    std::lock_guard<std::mutex> lock(gen.mutex());
    s.cuda = gen.get_state();
  }
  return s;
}

void set_rng_state(const RngState& s) {
  if (s.cpu.defined()) {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(s.cpu);
  }
  if (s.cuda.defined() && torch::cuda::is_available()) {
    auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, 0));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(s.cuda);
  }
}

double peak_memory_mb(const torch::Device& device) {
#ifdef SSMLAB_WITH_CUDA
  if (device.is_cuda()) {
    const auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
    return static_cast<double>(s.allocated_bytes[0].peak) / 1048576.0;  // [0]: StatType::AGGREGATE
  }
#endif
  (void)device;
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

void reset_peak_memory(const torch::Device& device) {
#ifdef SSMLAB_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
#endif
  (void)device;
}

}  // namespace ssmlab::models
