// config.cpp: config.json parsing into CheckpointConfig (config.h): the Hugging Face architectures
// ssmlab loads and ssmlab's own, with unknown keys reported as warnings (no LibTorch).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include "ssmlab/hf/config.h"
#include "ssmlab/safe_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ssmlab::hf {

// ---------------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------------
const char* arch_name(Arch a) {
  switch (a) {
    case Arch::GPTNeoX: return "gpt_neox";
    case Arch::GPT2: return "gpt2";
    case Arch::Mamba: return "mamba";
    case Arch::Mamba2: return "mamba2";
    case Arch::SsmlabTransformer: return "ssmlab_transformer";
    case Arch::SsmlabMoeTransformer: return "ssmlab_moe_transformer";
    case Arch::SsmlabLSTM: return "ssmlab_lstm";
  }
  return "?";
}

int64_t CheckpointConfig::vocab_size() const {
  switch (arch) {
    case Arch::GPTNeoX: return neox.vocab_size;
    case Arch::GPT2: return gpt2.vocab_size;
    case Arch::Mamba: return mamba.vocab_size;
    case Arch::Mamba2: return mamba2.vocab_size;
    case Arch::SsmlabTransformer:
    case Arch::SsmlabMoeTransformer:
    case Arch::SsmlabLSTM: return ssmlab.vocab_size;
  }
  return 0;
}

std::string CheckpointConfig::summary() const {
  std::ostringstream s;
  s << arch_name(arch) << ": ";
  switch (arch) {
    case Arch::GPTNeoX:
      s << "layers=" << neox.num_layers << " hidden=" << neox.hidden_size << " heads=" << neox.num_heads
        << " rotary_ndims=" << neox.rotary_ndims() << " vocab=" << neox.vocab_size
        << (neox.parallel_residual ? " parallel-residual" : " sequential-residual");
      break;
    case Arch::GPT2:
      s << "layers=" << gpt2.n_layer << " hidden=" << gpt2.n_embd << " heads=" << gpt2.n_head
        << " positions=" << gpt2.n_positions << " vocab=" << gpt2.vocab_size;
      break;
    case Arch::Mamba:
      s << "layers=" << mamba.n_layer << " d_model=" << mamba.d_model << " d_inner=" << mamba.d_inner
        << " d_state=" << mamba.d_state << " dt_rank=" << mamba.dt_rank << " vocab=" << mamba.vocab_size
        << (mamba.original_layout ? " (state-spaces layout)" : " (transformers layout)")
        << (mamba.tie_embeddings ? "" : " untied-head");
      break;
    case Arch::Mamba2:
      s << "layers=" << mamba2.n_layer << " d_model=" << mamba2.d_model << " heads=" << mamba2.nheads << "x" << mamba2.headdim
        << " groups=" << mamba2.ngroups << " d_state=" << mamba2.d_state << " vocab=" << mamba2.vocab_size;
      break;
    case Arch::SsmlabTransformer:
      s << "T_" << ssmlab.pos << " layers=" << ssmlab.n_layer << " d_model=" << ssmlab.d_model << " heads=" << ssmlab.n_head
        << " vocab=" << ssmlab.vocab_size;
      break;
    case Arch::SsmlabMoeTransformer:
      s << "T_" << ssmlab.pos << " layers=" << ssmlab.n_layer << " d_model=" << ssmlab.d_model << " heads=" << ssmlab.n_head
        << " experts=" << ssmlab.n_experts << " top_k=" << ssmlab.top_k << " vocab=" << ssmlab.vocab_size;
      break;
    case Arch::SsmlabLSTM:
      s << "lstm layers=" << ssmlab.n_layer << " d_model=" << ssmlab.d_model << " vocab=" << ssmlab.vocab_size;
      break;
  }
  return s.str();
}

namespace {

// Keys that never change inference: bookkeeping, token ids, dropouts, initialisation, caching.
const std::set<std::string> kIgnoredKeys = {
    "architectures", "transformers_version", "torch_dtype", "dtype", "_name_or_path", "model_type",
    "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id", "use_cache",
    "initializer_range", "classifier_dropout", "attention_dropout", "hidden_dropout", "attn_pdrop", "embd_pdrop",
    "resid_pdrop", "summary_activation", "summary_first_dropout", "summary_proj_to_labels", "summary_type",
    "summary_use_proj", "task_specific_params", "is_decoder", "add_cross_attention", "n_ctx", "id2label",
    "label2id", "problem_type", "tokenizer_class", "prefix", "output_attentions", "output_hidden_states",
    "return_dict", "gradient_checkpointing", "tie_word_embeddings", "time_step_floor", "time_step_init_scheme",
    "time_step_max", "time_step_min", "time_step_scale", "rescale_prenorm_residual", "use_mambapy",
    "use_associative_scan", "fused_add_norm", "pad_vocab_size_multiple", "attention_probs_dropout_prob",
    "hidden_dropout_prob", "layer_norm_epsilon", "layer_norm_eps", "chunk_size_feed_forward",
    "is_encoder_decoder", "torchscript", "use_return_dict", "pruned_heads", "finetuning_task", "ssmlab_family"};

struct Reader {
  const json& j;
  const ConfigOptions& opt;
  std::string where;
  std::set<std::string> used;
  std::vector<std::string> warnings;

  bool has(const std::string& k) const { return j.contains(k) && !j[k].is_null(); }
  [[noreturn]] void fail(const std::string& m) const { throw Error(where + ": " + m); }
  // Every size has an upper bound (kMaxSize) so that products of sizes cannot overflow.
  static constexpr int64_t kMaxSize = int64_t{1} << 24;
  int64_t integer(const std::string& k, std::optional<int64_t> def = std::nullopt, int64_t lo = 1, int64_t hi = kMaxSize) {
    used.insert(k);
    if (!has(k)) {
      if (def) return *def;
      fail("missing required key \"" + k + "\"");
    }
    const json& v = j[k];
    if (!v.is_number_integer()) fail("\"" + k + "\" must be an integer (got " + v.dump() + ")");
    const int64_t x = v.get<int64_t>();
    if (x < lo) fail("\"" + k + "\" must be >= " + std::to_string(lo) + " (got " + std::to_string(x) + ")");
    if (x > hi) fail("\"" + k + "\" = " + std::to_string(x) + " is larger than the supported maximum " + std::to_string(hi));
    return x;
  }
  double number(const std::string& k, double def) {
    used.insert(k);
    if (!has(k)) return def;
    if (!j[k].is_number()) fail("\"" + k + "\" must be a number (got " + j[k].dump() + ")");
    const double x = j[k].get<double>();
    if (!std::isfinite(x)) fail("\"" + k + "\" must be finite");
    return x;
  }
  bool boolean(const std::string& k, bool def) {
    used.insert(k);
    if (!has(k)) return def;
    if (!j[k].is_boolean()) fail("\"" + k + "\" must be true or false (got " + j[k].dump() + ")");
    return j[k].get<bool>();
  }
  std::string string(const std::string& k, const std::string& def) {
    used.insert(k);
    if (!has(k)) return def;
    if (!j[k].is_string()) fail("\"" + k + "\" must be a string (got " + j[k].dump() + ")");
    return j[k].get<std::string>();
  }
  void require_null_or_empty(const std::string& k, const std::string& why) {
    used.insert(k);
    if (!has(k)) return;
    const json& v = j[k];
    if ((v.is_object() || v.is_array()) && v.empty()) return;
    if (v.is_number_integer() && v.get<int64_t>() == 0) return;
    fail("\"" + k + "\" = " + v.dump() + " is not supported (" + why + ")");
  }
  void finish() {
    std::vector<std::string> unknown;
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!used.count(it.key()) && !kIgnoredKeys.count(it.key())) unknown.push_back(it.key());
    if (unknown.empty()) return;
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
    if (!opt.allow_unknown_keys)
      fail("unknown keys: " + list + " (ssmlab does not know whether they change the model; "
           "pass allow_unknown_keys / --allow-unknown-config to ignore them)");
    warnings.push_back("ignored unknown config keys: " + list);
  }
};

std::string activation(Reader& r, const std::string& key, const std::string& def) {
  const std::string a = r.string(key, def);
  static const std::set<std::string> ok = {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu"};
  if (!ok.count(a)) r.fail("activation \"" + a + "\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)");
  return a;
}

void parse_neox(Reader& r, GPTNeoXConfig& c) {
  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.num_layers = r.integer("num_hidden_layers");
  c.num_heads = r.integer("num_attention_heads");
  c.intermediate_size = r.integer("intermediate_size", 4 * c.hidden_size);
  c.max_positions = r.integer("max_position_embeddings", 2048);
  c.layer_norm_eps = r.number("layer_norm_eps", 1e-5);
  c.parallel_residual = r.boolean("use_parallel_residual", true);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  c.attention_bias = r.boolean("attention_bias", true);
  c.act = activation(r, "hidden_act", "gelu");
  // rotary: old keys (rotary_pct, rotary_emb_base) or transformers 5's rope_parameters
  c.rotary_pct = r.number("rotary_pct", 0.25);
  c.rope_theta = r.number("rotary_emb_base", 10000.0);
  c.rope_theta = r.number("rope_theta", c.rope_theta);
  c.rotary_pct = r.number("partial_rotary_factor", c.rotary_pct);
  r.used.insert("rope_scaling");
  r.used.insert("rope_parameters");
  for (const char* k : {"rope_scaling", "rope_parameters"}) {
    if (!r.has(k)) continue;
    const json& p = r.j[k];
    if (!p.is_object()) r.fail(std::string("\"") + k + "\" must be an object");
    for (const char* tk : {"rope_type", "type"})
      if (p.contains(tk) && (!p[tk].is_string() || p[tk].get<std::string>() != "default"))
        r.fail(std::string(k) + "." + tk + " = " + p[tk].dump() + " is not supported (only \"default\" RoPE)");
    for (auto it = p.begin(); it != p.end(); ++it) {
      const std::string& key = it.key();
      const json& v = it.value();
      if (key == "rope_type" || key == "type") {
        if (!v.is_string() || v.get<std::string>() != "default")
          r.fail(std::string(k) + "." + key + " = " + v.dump() + " is not supported (only \"default\" RoPE)");
      } else if (key == "rope_theta" && v.is_number()) {
        c.rope_theta = v.get<double>();
      } else if (key == "partial_rotary_factor" && v.is_number()) {
        c.rotary_pct = v.get<double>();
      } else {
        r.fail(std::string(k) + "." + key + " = " + v.dump() + " is not supported");
      }
    }
  }
  if (c.hidden_size % c.num_heads != 0)
    r.fail("hidden_size " + std::to_string(c.hidden_size) + " is not divisible by num_attention_heads " +
           std::to_string(c.num_heads));
  if (!(c.rotary_pct > 0.0 && c.rotary_pct <= 1.0)) r.fail("rotary fraction must be in (0, 1]");
  // transformers rotates 2*ceil(rotary_ndims/2) dims (one more than rotary_ndims when it is odd).
  if ((c.rotary_ndims() + 1) / 2 * 2 > c.head_size())
    r.fail("rotary dimensions head_size*rotary_pct = " + std::to_string(c.rotary_ndims()) + " do not fit a head of " +
           std::to_string(c.head_size()));
  if (c.rope_theta <= 0) r.fail("rope theta must be > 0");
  if (!(c.layer_norm_eps > 0)) r.fail("layer_norm_eps must be > 0");
}

void parse_gpt2(Reader& r, GPT2Config& c) {
  c.vocab_size = r.integer("vocab_size");
  c.n_embd = r.integer("n_embd");
  c.n_layer = r.integer("n_layer");
  c.n_head = r.integer("n_head");
  c.n_positions = r.integer("n_positions", 1024);
  c.n_inner = r.has("n_inner") ? r.integer("n_inner") : 4 * c.n_embd;
  r.used.insert("n_inner");
  c.layer_norm_eps = r.number("layer_norm_epsilon", 1e-5);
  c.act = activation(r, "activation_function", "gelu_new");
  c.scale_attn_weights = r.boolean("scale_attn_weights", true);
  if (!c.scale_attn_weights) r.fail("scale_attn_weights=false is not supported");
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
  if (r.boolean("scale_attn_by_inverse_layer_idx", false)) r.fail("scale_attn_by_inverse_layer_idx=true is not supported");
  if (r.boolean("reorder_and_upcast_attn", false)) r.fail("reorder_and_upcast_attn=true is not supported");
  if (c.n_embd % c.n_head != 0)
    r.fail("n_embd " + std::to_string(c.n_embd) + " is not divisible by n_head " + std::to_string(c.n_head));
  if (r.has("n_ctx") && r.j["n_ctx"].is_number_integer() && r.j["n_ctx"].get<int64_t>() != c.n_positions)
    r.fail("n_ctx and n_positions disagree");
}

void finish_mamba(Reader& r, MambaConfig& c) {
  c.d_inner = c.expand * c.d_model;
  if (c.dt_rank <= 0) c.dt_rank = (c.d_model + 15) / 16;
}

void parse_mamba_hf(Reader& r, MambaConfig& c) {
  c.vocab_size = r.integer("vocab_size");
  c.d_model = r.integer("hidden_size");
  c.n_layer = r.integer("num_hidden_layers");
  c.d_state = r.integer("state_size", 16);
  c.d_conv = r.integer("conv_kernel", 4);
  c.expand = r.integer("expand", 2);
  c.conv_bias = r.boolean("use_conv_bias", true);
  c.bias = r.boolean("use_bias", false);
  c.residual_in_fp32 = r.boolean("residual_in_fp32", true);
  c.norm_eps = r.number("layer_norm_epsilon", 1e-5);
  c.tie_embeddings = r.boolean("tie_word_embeddings", true);
  if (r.string("hidden_act", "silu") != "silu") r.fail("Mamba hidden_act must be \"silu\"");
  // The published *-hf configs also carry mamba_ssm's names; accepted when they agree.
  if (r.has("d_model") && r.integer("d_model") != c.d_model) r.fail("d_model disagrees with hidden_size");
  if (r.has("n_layer") && r.integer("n_layer") != c.n_layer) r.fail("n_layer disagrees with num_hidden_layers");
  r.used.insert("d_model");
  r.used.insert("n_layer");
  r.used.insert("time_step_rank");
  if (r.has("time_step_rank")) {
    const json& v = r.j["time_step_rank"];
    if (v.is_string() && v.get<std::string>() == "auto") {
      c.dt_rank = 0;
    } else {
      c.dt_rank = r.integer("time_step_rank");
    }
  }
  finish_mamba(r, c);
  if (r.has("intermediate_size") && r.integer("intermediate_size") != c.d_inner)
    r.fail("intermediate_size " + std::to_string(r.j["intermediate_size"].get<int64_t>()) + " != expand*hidden_size " +
           std::to_string(c.d_inner));
  r.used.insert("intermediate_size");
  if (r.has("d_inner") && r.integer("d_inner") != c.d_inner) r.fail("d_inner disagrees with expand*hidden_size");
  r.used.insert("d_inner");
  // mamba_ssm-style keys that transformers copies in; they must not ask for something else
  if (r.has("rms_norm") && !r.boolean("rms_norm", true)) r.fail("rms_norm=false (LayerNorm Mamba) is not supported");
  r.used.insert("rms_norm");
  r.require_null_or_empty("ssm_cfg", "only the default Mamba-1 mixer is supported");
}

void parse_mamba_original(Reader& r, MambaConfig& c) {
  c.original_layout = true;
  c.d_model = r.integer("d_model");
  c.n_layer = r.integer("n_layer");
  const int64_t vocab = r.integer("vocab_size");
  const int64_t mult = r.integer("pad_vocab_size_multiple", 8);
  c.vocab_size = (vocab + mult - 1) / mult * mult;
  if (!r.boolean("rms_norm", true)) r.fail("rms_norm=false (LayerNorm Mamba) is not supported");
  c.residual_in_fp32 = r.boolean("residual_in_fp32", true);
  r.boolean("fused_add_norm", true);
  c.tie_embeddings = r.boolean("tie_embeddings", true);
  if (!c.tie_embeddings) r.fail("tie_embeddings=false is not supported for the state-spaces layout");
  r.require_null_or_empty("d_intermediate", "Mamba blocks with an MLP (d_intermediate > 0) are not supported");
  r.require_null_or_empty("attn_layer_idx", "hybrid attention layers are not supported");
  r.require_null_or_empty("attn_cfg", "hybrid attention layers are not supported");
  r.used.insert("ssm_cfg");
  if (r.has("ssm_cfg")) {
    const json& s = r.j["ssm_cfg"];
    if (!s.is_object()) r.fail("ssm_cfg must be an object");
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      const json& v = it.value();
      auto as_int = [&]() {
        if (!v.is_number_integer() || v.get<int64_t>() < 1) r.fail("ssm_cfg." + k + " must be a positive integer");
        return v.get<int64_t>();
      };
      if (k == "d_state") c.d_state = as_int();
      else if (k == "d_conv") c.d_conv = as_int();
      else if (k == "expand") c.expand = as_int();
      else if (k == "dt_rank") c.dt_rank = (v.is_string() && v.get<std::string>() == "auto") ? 0 : as_int();
      else if (k == "conv_bias" && v.is_boolean()) c.conv_bias = v.get<bool>();
      else if (k == "bias" && v.is_boolean()) c.bias = v.get<bool>();
      else if (k == "layer") {
        if (!v.is_string() || v.get<std::string>() != "Mamba1")
          r.fail("ssm_cfg.layer = " + v.dump() + " is not supported (only Mamba1)");
      } else if (k == "dt_min" || k == "dt_max" || k == "dt_init" || k == "dt_scale" || k == "dt_init_floor" ||
                 k == "use_fast_path") {
        // initialisation / kernel choice only
      } else {
        r.fail("ssm_cfg." + k + " = " + v.dump() + " is not supported");
      }
    }
  }
  finish_mamba(r, c);
}

void parse_mamba2(Reader& r, Mamba2Config& c) {
  c.vocab_size = r.integer("vocab_size");
  c.d_model = r.integer("hidden_size");
  c.n_layer = r.integer("num_hidden_layers");
  c.d_state = r.integer("state_size", 128);
  c.d_conv = r.integer("conv_kernel", 4);
  c.expand = r.integer("expand", 2);
  c.headdim = r.integer("head_dim", 64);
  c.nheads = r.integer("num_heads", c.expand * c.d_model / c.headdim);
  c.ngroups = r.integer("n_groups", 1);
  c.chunk_size = r.integer("chunk_size", 256);
  c.conv_bias = r.boolean("use_conv_bias", true);
  c.bias = r.boolean("use_bias", false);
  c.residual_in_fp32 = r.boolean("residual_in_fp32", true);
  c.norm_eps = r.number("layer_norm_epsilon", 1e-5);
  c.tie_embeddings = r.boolean("tie_word_embeddings", false);
  if (r.string("hidden_act", "silu") != "silu") r.fail("Mamba-2 hidden_act must be \"silu\"");
  if (r.has("rms_norm") && !r.boolean("rms_norm", true)) r.fail("rms_norm=false is not supported");
  r.used.insert("rms_norm");
  r.used.insert("time_step_rank");  // unused by Mamba-2 (dt comes from in_proj)
  r.used.insert("time_step_limit");
  if (r.has("time_step_limit")) {   // (0, inf) is the only limit ssmlab computes
    const json& v = r.j["time_step_limit"];
    // transformers 5 writes infinity as {"__float__": "Infinity"}
    auto is_inf = [](const json& x) {
      return (x.is_number() && std::isinf(x.get<double>()) && x.get<double>() > 0) ||
             (x.is_object() && x.size() == 1 && x.contains("__float__") && x["__float__"] == "Infinity");
    };
    const bool ok = v.is_array() && v.size() == 2 && v[0].is_number() && v[0].get<double>() == 0.0 && is_inf(v[1]);
    if (!ok) r.fail("time_step_limit = " + v.dump() + " is not supported (only [0, inf])");
  }
  if (c.nheads * c.headdim != c.expand * c.d_model)
    r.fail("num_heads*head_dim = " + std::to_string(c.nheads * c.headdim) + " != expand*hidden_size = " +
           std::to_string(c.expand * c.d_model));
  if (c.nheads % c.ngroups != 0) r.fail("num_heads is not divisible by n_groups");
}

void parse_ssmlab(Reader& r, SsmlabConfig& c, bool transformer, bool moe) {
  c.vocab_size = r.integer("vocab_size");
  c.d_model = r.integer("d_model");
  c.n_layer = r.integer("n_layer");
  if (!transformer) return;
  c.pos = r.string("pos", "nope");
  if (c.pos != "rope" && c.pos != "nope" && c.pos != "alibi" && c.pos != "hard_alibi")
    r.fail("pos \"" + c.pos + "\" is not one of rope, nope, alibi, hard_alibi");
  c.n_head = r.integer("n_head");
  c.d_ff = r.integer("d_ff", 0, 0);
  c.n_masked_heads = r.integer("n_masked_heads", -1, -1);
  c.rotary_pct = r.number("rotary_pct", 0.25);
  c.rope_base = r.number("rope_base", 10000.0);
  c.ln_eps = r.number("layer_norm_eps", 1e-5);
  c.parallel_residual = r.boolean("parallel_residual", false);
  c.tie_embeddings = r.boolean("tie_word_embeddings", false);
  c.activation = activation(r, "hidden_act", "gelu");
  r.used.insert("windows");
  if (r.has("windows")) {
    const json& w = r.j["windows"];
    if (!w.is_array()) r.fail("windows must be a list of positive integers");
    for (const auto& x : w) {
      if (!x.is_number_integer() || x.get<int64_t>() < 1 || x.get<int64_t>() > Reader::kMaxSize)
        r.fail("windows must be a list of positive integers");
      c.windows.push_back(x.get<int64_t>());
    }
  }
  if (c.d_model % c.n_head != 0) r.fail("d_model is not divisible by n_head");
  if (!(c.ln_eps > 0)) r.fail("layer_norm_eps must be > 0");
  if (!moe) return;
  c.n_experts = r.integer("n_experts");
  c.top_k = r.integer("top_k");
  if (c.top_k > c.n_experts)
    r.fail("top_k " + std::to_string(c.top_k) + " is larger than n_experts " + std::to_string(c.n_experts));
}

}  // namespace

CheckpointConfig parse_config(const json& j, const ConfigOptions& opt) {
  if (!j.is_object()) throw Error("config.json: not a JSON object");
  CheckpointConfig mc;
  Reader r{j, opt, "config.json", {}, {}};
  std::string type;
  if (j.contains("model_type")) {
    if (!j["model_type"].is_string()) throw Error("config.json: model_type must be a string");
    type = j["model_type"].get<std::string>();
  } else if (j.contains("d_model") && j.contains("n_layer")) {
    type = "mamba_ssm";
  } else {
    throw Error("config.json: no \"model_type\" and not a state-spaces Mamba config (d_model, n_layer); "
                "supported: gpt_neox, gpt2, mamba, mamba2, ssmlab_transformer, ssmlab_moe_transformer, ssmlab_lstm");
  }
  r.where = "config.json (" + type + ")";
  if (type == "gpt_neox") {
    mc.arch = Arch::GPTNeoX;
    parse_neox(r, mc.neox);
  } else if (type == "gpt2") {
    mc.arch = Arch::GPT2;
    parse_gpt2(r, mc.gpt2);
  } else if (type == "mamba") {
    mc.arch = Arch::Mamba;
    parse_mamba_hf(r, mc.mamba);
  } else if (type == "mamba_ssm") {
    mc.arch = Arch::Mamba;
    parse_mamba_original(r, mc.mamba);
  } else if (type == "mamba2") {
    mc.arch = Arch::Mamba2;
    parse_mamba2(r, mc.mamba2);
  } else if (type == "ssmlab_transformer" || type == "ssmlab_moe_transformer" || type == "ssmlab_lstm") {
    mc.arch = type == "ssmlab_lstm" ? Arch::SsmlabLSTM
              : type == "ssmlab_moe_transformer" ? Arch::SsmlabMoeTransformer : Arch::SsmlabTransformer;
    parse_ssmlab(r, mc.ssmlab, mc.arch != Arch::SsmlabLSTM, mc.arch == Arch::SsmlabMoeTransformer);
  } else {
    throw Error("config.json: model_type \"" + type + "\" is not supported (gpt_neox, gpt2, mamba, mamba2, "
                "ssmlab_transformer, ssmlab_moe_transformer, ssmlab_lstm)");
  }
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) mc.eos_token_id = j["eos_token_id"].get<int64_t>();
  r.finish();
  mc.warnings = r.warnings;
  return mc;
}

CheckpointConfig load_config(const std::string& dir_or_file, const ConfigOptions& opt) {
  fs::path p(dir_or_file);
  if (fs::is_directory(p)) p /= "config.json";
  json j;
  try {
    j = read_json_file(p.string());  // regular file, size cap, nesting limit
  } catch (const std::runtime_error& e) {
    throw Error(e.what());
  }
  try {
    return parse_config(j, opt);
  } catch (const Error& e) {
    throw Error(p.string() + ": " + e.what());
  }
}

}  // namespace ssmlab::hf
