// config.h: config.json of GPT-NeoX (Pythia), GPT-2, Mamba, Mamba-2 and ssmlab-only checkpoints ->
// plain, validated fields (torch-free). hf/pretrained.h turns them into models:: options.
//
// Two Mamba layouts are recognised: transformers' MambaConfig ("model_type": "mamba",
// hidden_size/num_hidden_layers/state_size/...) and the original state-spaces/mamba one
// (no model_type; d_model, n_layer, vocab_size, pad_vocab_size_multiple, ssm_cfg, ...). In the
// original layout the embedding has vocab_size rounded up to a multiple of pad_vocab_size_multiple.
//
// Strictness: every key must be either understood (and consistent with the others) or on a list of
// keys that do not change inference (dropouts, initialisation, token ids, bookkeeping). Anything else
// is an hf::Error naming the key; ConfigOptions::allow_unknown_keys turns unknown keys into warnings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ssmlab/hf/safetensors.h"  // hf::Error

namespace ssmlab::hf {

// SsmlabTransformer / SsmlabMoeTransformer / SsmlabLSTM: model_type "ssmlab_transformer" /
// "ssmlab_moe_transformer" / "ssmlab_lstm", written by ssmlab's save_pretrained for models no
// transformers class computes (T_nope, T_alibi, T_hard_alibi; T_rope_moe, whose LayerNorm + GELU
// MLP experts with biases and GPT-NeoX attention no transformers MoE class (Mixtral, OLMoE,
// Qwen2-MoE, GPT-OSS: RMSNorm and gated SiLU experts) has; the LSTM); only ssmlab loads them.
enum class Arch { GPTNeoX, GPT2, Mamba, Mamba2, SsmlabTransformer, SsmlabMoeTransformer, SsmlabLSTM };
const char* arch_name(Arch a);

struct GPTNeoXConfig {
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, intermediate_size = 0;
  int64_t max_positions = 2048;
  double rotary_pct = 0.25, rope_theta = 10000.0, layer_norm_eps = 1e-5;
  bool parallel_residual = true, tie_word_embeddings = false, attention_bias = true;
  std::string act = "gelu";
  int64_t head_size() const { return hidden_size / num_heads; }
  int64_t rotary_ndims() const { return static_cast<int64_t>(static_cast<double>(head_size()) * rotary_pct); }
};

struct GPT2Config {
  int64_t vocab_size = 0, n_embd = 0, n_layer = 0, n_head = 0, n_inner = 0, n_positions = 1024;
  bool tie_word_embeddings = true;
  double layer_norm_eps = 1e-5;
  std::string act = "gelu_new";
  bool scale_attn_weights = true;
};

struct MambaConfig {
  int64_t vocab_size = 0;  // embedding rows (padded in the original layout)
  int64_t d_model = 0, n_layer = 0, d_state = 16, d_conv = 4, expand = 2, d_inner = 0, dt_rank = 0;
  double norm_eps = 1e-5;
  bool conv_bias = true, bias = false, residual_in_fp32 = true, tie_embeddings = true;
  bool original_layout = false;  // state-spaces layout (backbone.embedding.weight, ...)
};

struct Mamba2Config {
  int64_t vocab_size = 0, d_model = 0, n_layer = 0, d_state = 128, d_conv = 4, expand = 2, headdim = 64;
  int64_t nheads = 0, ngroups = 1, chunk_size = 256;
  double norm_eps = 1e-5;
  bool conv_bias = true, bias = false, residual_in_fp32 = true, tie_embeddings = true;
};

// model_type ssmlab_transformer / ssmlab_moe_transformer / ssmlab_lstm: the registry's fields
// (models/registry.h); n_experts >= 1 and 1 <= top_k <= n_experts for ssmlab_moe_transformer only.
struct SsmlabConfig {
  std::string pos = "nope";  // ssmlab_transformer: rope | nope | alibi | hard_alibi
  int64_t vocab_size = 0, d_model = 0, n_layer = 0, n_head = 1, d_ff = 0, n_masked_heads = -1;
  int64_t n_experts = 0, top_k = 0;  // ssmlab_moe_transformer
  std::vector<int64_t> windows;
  double rotary_pct = 0.25, rope_base = 10000.0, ln_eps = 1e-5;
  bool parallel_residual = false, tie_embeddings = false;
  std::string activation = "gelu";
};

struct CheckpointConfig {
  Arch arch = Arch::GPTNeoX;
  GPTNeoXConfig neox;
  GPT2Config gpt2;
  MambaConfig mamba;
  Mamba2Config mamba2;
  SsmlabConfig ssmlab;
  int64_t eos_token_id = -1;  // -1: none given
  std::vector<std::string> warnings;
  int64_t vocab_size() const;
  std::string summary() const;
};

struct ConfigOptions {
  bool allow_unknown_keys = false;
};

CheckpointConfig parse_config(const nlohmann::json& j, const ConfigOptions& opt = {});
CheckpointConfig load_config(const std::string& dir_or_file, const ConfigOptions& opt = {});

}  // namespace ssmlab::hf
