// torch_util.h — small LibTorch helpers every ssmlab training/inference binary needs.
//
//   auto device = ssmlab::models::resolve_device(device_flag);   // "auto" | "cpu" | "cuda[:i]"
//   ssmlab::models::torch_set_threads(opts.threads);              // Debian's LibTorch starts at 1
//   ssmlab::models::seed_everything(opts.seed);                   // CPU + CUDA generators
//
// Version differences between Debian's LibTorch 1.13 (CPU) and LibTorch 2.x (+CUDA) are guarded
// here and in the model files with TORCH_VERSION_MAJOR / TORCH_VERSION_MINOR.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "ssmlab/cli.h"

namespace ssmlab::models {

// True when this LibTorch is at least major.minor.
constexpr bool torch_at_least(int major, int minor) {
  return TORCH_VERSION_MAJOR > major || (TORCH_VERSION_MAJOR == major && TORCH_VERSION_MINOR >= minor);
}
std::string torch_version_string();  // e.g. "1.13.0 (CPU)" or "2.11.0 (CUDA, 1 GPU)"

// "auto" -> cuda if available else cpu; "cpu"; "cuda" / "cuda:i". Throws std::invalid_argument
// with a one-line explanation for an unknown spec or for cuda without a usable GPU.
torch::Device resolve_device(const std::string& spec);

// at::set_num_threads(threads) (threads <= 0: all hardware threads).
void torch_set_threads(int threads);
inline void torch_set_threads(const CommonOptions& opts) { torch_set_threads(opts.threads); }

// Seeds LibTorch's CPU generator and every CUDA generator. With deterministic = true, also asks
// LibTorch for deterministic algorithms (warn-only where none exists).
void seed_everything(std::uint64_t seed, bool deterministic = false);

// RAII: bf16 autocast for CUDA inside the scope when `enabled` and device is CUDA, else nothing.
// (The autocast API changed in LibTorch 2.4; both spellings are handled in torch_util.cpp.)
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;
  bool active() const { return active_; }

 private:
  bool active_ = false;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kHalf;
};

// The dtype CUDA autocast casts to while it is enabled on this thread, nullopt while it is off (the
// version-dependent API read in one place, beside AutocastGuard; models/layout_linear.cpp uses it).
std::optional<at::ScalarType> cuda_autocast_dtype();

// Random-number-generator states (CPU + the current CUDA device if any), for checkpoints.
struct RngState {
  torch::Tensor cpu;
  torch::Tensor cuda;  // undefined when no CUDA
};
RngState get_rng_state();
void set_rng_state(const RngState& s);

// Peak memory in MiB: on a CUDA device the caching allocator's peak of allocated bytes since the last
// reset_peak_memory (in a build with SSMLAB_WITH_CUDA); elsewhere the process's peak resident set
// (getrusage; never reset).
double peak_memory_mb(const torch::Device& device);
void reset_peak_memory(const torch::Device& device);  // CUDA: the allocator's peak statistics; else nothing

}  // namespace ssmlab::models
