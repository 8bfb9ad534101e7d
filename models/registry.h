// registry.h — build any ssmlab language model by name; count and match parameters.
//
//   ssmlab::models::ModelConfig mc;  mc.vocab_size = 30;  mc.d_model = 128;  mc.n_layer = 4;
//   auto model = ssmlab::models::make_model("T_hard_alibi", mc);   // LanguageModel
//   auto mc2 = ssmlab::models::match_params(500'000, "mamba", mc);  // width/depth within ±5 %
//
// Names: T_rope | T_nope | T_alibi | T_hard_alibi | T_rope_moe | mamba | mamba2 | lstm
// (T_rope_moe: T_rope with a sparse mixture-of-experts MLP, transformer.h "MoeMLP").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/lm.h"
#include "ssmlab/cli.h"

namespace ssmlab::models {

// One flat config for every family; each family reads the fields it needs.
struct ModelConfig {
  int64_t vocab_size = 30;
  int64_t d_model = 128;
  int64_t n_layer = 4;
  // Transformers
  int64_t n_head = 4;
  int64_t d_ff = 0;              // 0 = 4 d_model
  double rotary_pct = 0.25;
  double rope_base = 10000.0;
  int64_t n_masked_heads = -1;   // hard_alibi; -1 = n_head / 2
  int64_t n_experts = 8;         // T_rope_moe: experts per MoE MLP (Mixtral num_local_experts)
  int64_t top_k = 2;             // T_rope_moe: experts per token (Mixtral num_experts_per_tok)
  // Mamba / Mamba-2
  int64_t d_state = 16;
  int64_t d_conv = 4;
  int64_t expand = 2;
  int64_t dt_rank = 0;           // 0 = ceil(d_model / 16)
  int64_t headdim = 16;          // Mamba-2 head dim P
  int64_t ngroups = 1;           // Mamba-2 B/C groups
  int64_t chunk_size = 64;       // Mamba-2 SSD chunk
  // LSTM
  double dropout = 0.0;
  // Kernels of the scan, the causal conv and the SSD (kernels::KernelImpl, kernels/kernel_impl.h):
  // auto | reference | cpu_fused | cuda. Mamba-2: reference = sequential SSD, else chunked.
  std::string kernel_impl = "auto";

  nlohmann::json to_json() const;
};

// Declares --d-model --n-layer --n-head --n-experts --top-k --d-state --expand --headdim --chunk-size
// --dropout --kernel-impl ...
void add_model_flags(Cli& cli, ModelConfig* mc);

const std::vector<std::string>& model_names();
// Throws std::invalid_argument for an unknown name or an inconsistent config.
LanguageModel make_model(const std::string& name, const ModelConfig& mc);
// Before building (a usage check, so exit 2 and not an allocation failure or a crash later): the
// config is consistent (what make_model would refuse) and the model fits in `available_bytes`,
// counting fp32 parameters, and when `training` their gradients and the two AdamW moments.
// Throws UsageError naming the flag to change (--d-model, --n-head, --n-layer, ...).
void check_model_fits(const std::string& name, const ModelConfig& mc, std::uint64_t available_bytes,
                      bool training = true);
// Exact count without building the model (closed form per family; tested against count_params).
int64_t param_count(const std::string& name, const ModelConfig& mc);
// Parameters one token uses (T_rope_moe: all but the experts, plus top_k experts per layer;
// every other family: param_count).
int64_t active_param_count(const std::string& name, const ModelConfig& mc);

// Picks d_model and n_layer (other fields from `base`) so that param_count is within
// ±tolerance of `target`, preferring the shape closest to the family's usual depth/width ratio.
// Throws std::runtime_error if no grid point fits.
// fixed_layers > 0: n_layer = fixed_layers and only d_model is fitted, over multiples of n_head
// (Transformers), of headdim (mamba2) or every width (others) up to 4096; the closest count wins and
// `tolerance` is not applied (callers log the relative error). The usual ratio would give ~100 k
// parameters a single attention layer, too shallow to copy (synthetic_train --match-layers).
ModelConfig match_params(int64_t target, const std::string& name, const ModelConfig& base = {},
                         double tolerance = 0.05, int64_t fixed_layers = 0);

}  // namespace ssmlab::models
