// inference_cache.cpp — left-padding bookkeeping of InferenceCache (inference_cache.h).
#include "models/inference_cache.h"

#include <stdexcept>
#include <string>

namespace ssmlab::models {

InferenceCache InferenceCache::allocate(int64_t batch, int64_t max_seqlen, int64_t n_layers, const torch::Device& device) {
  InferenceCache c;
  c.batch_size = batch;
  c.max_seqlen = max_seqlen;
  c.pad = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kLong).device(device));
  c.layers.resize(n_layers);
  return c;
}

void InferenceCache::check_room(int64_t L, const char* family) const {
  if (seqlen_offset + L > max_seqlen)
    throw std::invalid_argument(std::string(family) + ": " + std::to_string(seqlen_offset + L) + " tokens exceed the cache's " +
                                std::to_string(max_seqlen) + " slots");
}

void InferenceCache::set_left_padding(const std::vector<int64_t>& lengths, int64_t padded_len) {
  if (seqlen_offset != 0) throw std::logic_error("InferenceCache: padding can only be set before the prefill");
  if (static_cast<int64_t>(lengths.size()) != batch_size)
    throw std::invalid_argument("InferenceCache: " + std::to_string(lengths.size()) + " prompt lengths for a batch of " +
                                std::to_string(batch_size));
  std::vector<int64_t> p(lengths.size());
  padded = false;
  for (size_t b = 0; b < lengths.size(); ++b) {
    if (lengths[b] < 1 || lengths[b] > padded_len)
      throw std::invalid_argument("InferenceCache: prompt length " + std::to_string(lengths[b]) + " outside [1, " +
                                  std::to_string(padded_len) + "]");
    p[b] = padded_len - lengths[b];
    padded = padded || p[b] > 0;
  }
  pad = torch::tensor(p, torch::kInt64).to(pad.defined() ? pad.device() : torch::Device(torch::kCPU));
}

torch::Tensor InferenceCache::valid_mask(int64_t L) const {
  auto slots = torch::arange(seqlen_offset, seqlen_offset + L, pad.options());  // (L)
  return slots.unsqueeze(0) >= pad.unsqueeze(1);                                // (B, L)
}

torch::Tensor InferenceCache::positions(int64_t L) const {
  auto slots = torch::arange(seqlen_offset, seqlen_offset + L, pad.options());  // (L)
  return (slots.unsqueeze(0) - pad.unsqueeze(1)).clamp_min(0);                  // (B, L)
}

}  // namespace ssmlab::models
