// inference_cache.cpp — left-padding bookkeeping of InferenceCache (inference_cache.h).
#include "inference_cache.h"

#include <stdexcept>
#include <string>

namespace ssmlab::models {

void InferenceCache::set_left_padding(const std::vector<int64_t>& lengths, int64_t padded_len) {
  if (seqlen_offset != 0) throw std::logic_error("InferenceCache: padding can only be set before the prefill");
  if (static_cast<int64_t>(lengths.size()) != batch_size)
    throw std::invalid_argument("InferenceCache: " + std::to_string(lengths.size()) + " prompt lengths for a batch of " +
                                std::to_string(batch_size));
  std::vector<int64_t> p(lengths.size());
  for (size_t b = 0; b < lengths.size(); ++b) {
    if (lengths[b] < 1 || lengths[b] > padded_len)
      throw std::invalid_argument("InferenceCache: prompt length " + std::to_string(lengths[b]) + " outside [1, " +
                                  std::to_string(padded_len) + "]");
    p[b] = padded_len - lengths[b];
  }
  pad = torch::tensor(p, torch::kInt64).to(pad.defined() ? pad.device() : torch::Device(torch::kCPU));
}

bool InferenceCache::has_padding() const { return pad.defined() && pad.gt(0).any().item<bool>(); }

torch::Tensor InferenceCache::valid_mask(int64_t L) const {
  auto slots = torch::arange(seqlen_offset, seqlen_offset + L, pad.options());  // (L)
  return slots.unsqueeze(0) >= pad.unsqueeze(1);                                // (B, L)
}

torch::Tensor InferenceCache::positions(int64_t L) const {
  auto slots = torch::arange(seqlen_offset, seqlen_offset + L, pad.options());  // (L)
  return (slots.unsqueeze(0) - pad.unsqueeze(1)).clamp_min(0);                  // (B, L)
}

}  // namespace ssmlab::models
