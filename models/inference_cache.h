// inference_cache.h — the one inference cache of every ssmlab language model (the role of
// mamba-ssm's InferenceParams, mamba_ssm/utils/generation.py).
//
// A model allocates it with LanguageModelImpl::new_cache(batch, max_seqlen). Every tensor is
// preallocated with a fixed shape and updated in place, so one decode step always touches the same
// buffers (no torch::cat growth): the step can be captured in a CUDA graph.
//
// Prompts of different lengths: LEFT padding. A batch of prompts is padded on the left to the
// longest; `pad` holds each row's number of pad slots. Every family treats pad slots as absent:
//   Transformers mask pad keys and count positions from the row's first real token,
//   Mamba/Mamba-2 zero the conv input and the scan input on pad slots (the state stays zero, as
//     if the row started at its first real token), the LSTM keeps its state through pad steps.
// After the prefill every row advances one slot per step, so `seqlen_offset` (slots consumed,
// pads included) is shared by the whole batch.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace ssmlab::models {

// Per-layer state; each family uses the fields it needs.
struct LayerCache {
  torch::Tensor k, v;         // Transformer: (B, H, max_seqlen, P), model dtype
  torch::Tensor conv_state;   // Mamba: (B, E, K); Mamba-2: (B, E + 2GN, K); newest input last
  torch::Tensor ssm_state;    // Mamba: (B, E, N); Mamba-2: (B, H, P, N); fp32
  torch::Tensor h, c;         // LSTM (all layers in layers[0]): (n_layer, B, D)
};

struct InferenceCache {
  // The fields every family shares: `n_layers` empty LayerCaches, no padding, pad on `device`.
  static InferenceCache allocate(int64_t batch, int64_t max_seqlen, int64_t n_layers, const torch::Device& device);

  int64_t batch_size = 0;
  int64_t max_seqlen = 0;     // slots available (prompt + new tokens, pads included)
  int64_t seqlen_offset = 0;  // slots consumed so far (the same for every row)
  torch::Tensor pad;          // (B) int64 on the model's device: left-pad slots of each row
  std::vector<LayerCache> layers;
  bool padded = false;        // host copy of "any pad > 0" (no device sync in the decode loop)

  // Sets the left padding of the next prefill (lengths[b] = real tokens of row b in a prompt
  // block of `padded_len` slots). Only before the first forward.
  void set_left_padding(const std::vector<int64_t>& lengths, int64_t padded_len);
  bool has_padding() const { return padded; }  // any row with pad > 0
  // Throws std::invalid_argument (naming `family`) if L more slots do not fit.
  void check_room(int64_t L, const char* family) const;
  // (B, L) bool: true where slot seqlen_offset + t of row b holds a real token.
  torch::Tensor valid_mask(int64_t L) const;
  // (B, L) int64: the position of each slot counted from its row's first real token (pads: 0).
  torch::Tensor positions(int64_t L) const;
};

}  // namespace ssmlab::models
