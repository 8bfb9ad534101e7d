// generation.h — the one generation loop of ssmlab, for every LanguageModel, on CPU and CUDA.
//
// Role of mamba-ssm's GenerationMixin / decode() (mamba_ssm/utils/generation.py): a batch of prompts
// is left-padded to the longest (InferenceCache's padding rule), prefilled in one forward, then
// decoded one token per step with the model's preallocated cache. Sampling: greedy (temperature 0),
// temperature, top-k, top-p; a row stops at an EOS id, at a stop string, or after max_new_tokens.
// greedy_uncached() is the reference twin: no cache, one full forward per new token, one row at a time.
//
//   auto out = ssmlab::models::generate(*model, {{1, 2, 3}, {4, 5}}, opts);   // out.tokens[b]: new ids
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/lm.h"

namespace ssmlab::models {

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  double temperature = 0.0;             // 0: greedy (argmax)
  int64_t top_k = 0;                    // 0: off
  double top_p = 1.0;                   // 1: off
  uint64_t seed = 0;                    // row b samples from an mt19937_64 seeded with seed + b
  std::vector<int64_t> eos_token_ids;   // a row stops right after emitting one of them
  // Stop strings: a row stops once decode(its new tokens) contains one (needs `decode`).
  std::vector<std::string> stop_strings;
  std::function<std::string(const std::vector<int64_t>&)> decode;
  // Called with (row, token) for every new token, in order (streaming).
  std::function<void(int64_t, int64_t)> on_token;
  // On CUDA, for models whose decode step is graph-safe (LanguageModelImpl::decode_step_graph_safe:
  // Mamba, Mamba-2) and at least 4 decode steps: the first step runs eagerly (warm-up), the second is
  // captured once in a CUDA graph (at::cuda::CUDAGraph) and every later step replays it — mamba-ssm's
  // cg=True (mamba_ssm/utils/generation.py, update_graph_cache). The same kernels run, so the tokens are
  // the same as without it (tests/models/test_models_cuda.cpp). Ignored on the CPU and without CUDA.
  bool cuda_graph = true;
};

struct GenerationResult {
  std::vector<std::vector<int64_t>> tokens;  // new tokens per row (prompt excluded)
  // Per row: "eos" | "stop_string" | "max_new_tokens" | "position_limit" (the model's positions ran out).
  std::vector<std::string> finish_reason;
  int64_t prefill_tokens = 0;                // slots of the prefill (rows × padded prompt length)
  double prefill_seconds = 0, decode_seconds = 0;
  int64_t decode_steps = 0;
  bool cuda_graph = false;                   // whether the decode steps replayed a CUDA graph
};

// Picks the next token from logits (V) under `opt` (greedy, temperature, top-k, top-p). Throws
// std::runtime_error if any logit is NaN or infinite.
int64_t sample_next(const torch::Tensor& logits, const GenerationOptions& opt, std::mt19937_64& rng);

// Batched generation with the model's cache on the model's device. Prompts must be non-empty.
// Throws std::runtime_error on non-finite logits (naming the step) and std::invalid_argument for
// empty prompts or a prompt longer than the model's positions.
GenerationResult generate(LanguageModelImpl& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationOptions& opt);

// Reference twin: greedy decoding with a full forward (no cache) per new token, row by row.
std::vector<std::vector<int64_t>> greedy_uncached(LanguageModelImpl& model,
                                                  const std::vector<std::vector<int64_t>>& prompts,
                                                  int64_t new_tokens);
// The same on any causal forward (tokens (B, T) int64 -> logits (B, T, V)), e.g. an oracle in a test:
// prompts (B, P) of one length -> the next `steps` argmax tokens (B, steps), one full forward per step.
using ForwardFn = std::function<torch::Tensor(const torch::Tensor&)>;
torch::Tensor greedy_uncached(const ForwardFn& forward, const torch::Tensor& prompts, int64_t steps);

}  // namespace ssmlab::models
