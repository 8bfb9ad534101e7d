// models.h: GPT-NeoX (Pythia), GPT-2 and Mamba language models whose parameter names equal the
// Hugging Face checkpoint names, so a checkpoint loads with hf::load_strict and no renaming table.
//
// Shape legend: B batch, T new tokens, S cached + new tokens, H hidden size, nh heads,
// hd head size, V vocabulary, D Mamba inner width (expand * d_model), N state size, K conv width.
//
// Every model offers two paths with the same numbers:
//   logits(ids)        full forward of ids (B,T) -> (B,T,V), no cache (the parity reference path)
//   reset(B) + step(ids)  incremental: step appends (B,T) new tokens and returns their logits;
//                      transformers keep a KV cache, Mamba its conv and SSM states (O(1) per token).
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ssmlab/hf/checkpoint.h"
#include "ssmlab/hf/config.h"
#include "ssmlab/hf/tokenizer.h"

namespace ssmlab::hf {

class CausalLM {
 public:
  virtual ~CausalLM() = default;
  virtual torch::Tensor logits(const torch::Tensor& ids) = 0;  // (B,T) int64 -> (B,T,V) float
  virtual void reset(int64_t batch) = 0;
  virtual torch::Tensor step(const torch::Tensor& ids) = 0;    // (B,T) -> (B,T,V), uses/extends the cache
  virtual int64_t cached_tokens() const = 0;
  virtual int64_t max_positions() const { return -1; }        // -1: unbounded (Mamba)
  virtual torch::nn::Module& module() = 0;
  const ModelConfig& config() const { return cfg_; }

 protected:
  ModelConfig cfg_;
};

// Builds the model of `cfg` with uninitialised weights (load them with load_weights). Mamba is
// models::MambaLM unless `reference_mamba` asks for hf/'s own transcription of transformers' code.
std::unique_ptr<CausalLM> make_model(const ModelConfig& cfg, bool reference_mamba = false);
// Renames checkpoint tensors of known alternative layouts (GPT-2 without "transformer.",
// Mamba's state-spaces "backbone.embedding.") and strict-loads them.
void load_weights(CausalLM& model, TensorMap tensors);

struct Pretrained {
  ModelConfig config;
  std::unique_ptr<CausalLM> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the folder has no tokenizer.json
  std::string weights_file;
};
struct LoadOptions {
  ConfigOptions config;
  bool require_tokenizer = false;
  bool reference_mamba = false;   // see make_model
  std::string tokenizer_path;     // tokenizer.json elsewhere (state-spaces/mamba-* ship none)
};
// config.json + weights (+ tokenizer.json) of a Hugging Face folder.
Pretrained load_pretrained(const std::string& dir, const LoadOptions& opt = {});

// ---------------------------------------------------------------------------------------------
// generation
// ---------------------------------------------------------------------------------------------
struct SamplingOptions {
  int64_t max_new_tokens = 32;
  double temperature = 0.0;  // 0: greedy (argmax)
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // 1: off
  uint64_t seed = 0;
  int64_t eos_token_id = -1;  // stop after emitting it; -1: never stop early
};

// Picks the next token from logits (V) under `opt` (greedy, temperature, top-k, top-p).
int64_t sample_next(const torch::Tensor& logits, const SamplingOptions& opt, std::mt19937_64& rng);

// Generates with the cache (prompt in one step, then one token per step); `on_token` is called
// with every new token. Returns the new tokens (not the prompt).
std::vector<int64_t> generate(CausalLM& model, const std::vector<int64_t>& prompt, const SamplingOptions& opt,
                              const std::function<void(int64_t)>& on_token = {});
// Greedy decoding without any cache: full forward per new token (reference for the cached path).
std::vector<int64_t> greedy_uncached(CausalLM& model, const std::vector<int64_t>& prompt, int64_t new_tokens);

}  // namespace ssmlab::hf
