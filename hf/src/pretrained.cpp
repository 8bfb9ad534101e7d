// pretrained.cpp: Hugging Face folders <-> models:: language models (pretrained.h).
#include "ssmlab/hf/pretrained.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "models/lstm.h"
#include "models/mamba.h"
#include "models/mamba2.h"
#include "models/transformer.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/safe_io.h"

namespace fs = std::filesystem;
using nlohmann::json;
using torch::Tensor;

namespace ssmlab::hf {
namespace {

// POSIX file operations for the folder swap: pip LibTorch 2.x's libtorch.so exports its own
// std::filesystem::remove_all, which segfaults when a binary binds to it (docs/developing.md).
bool path_exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}
bool is_dir(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
void remove_tree(const std::string& p) {
  if (!path_exists(p)) return;
  ::nftw(p.c_str(), [](const char* f, const struct stat*, int, struct FTW*) { return ::remove(f); }, 16, FTW_DEPTH | FTW_PHYS);
}
void rename_or_throw(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw Error("save_pretrained: cannot rename " + from + " to " + to + ": " + std::strerror(errno));
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// ---- GPT-2 <-> GPT-NeoX names --------------------------------------------------------------
// transformers' GPT-2 Conv1D stores W as (in, out) and c_attn's output columns as (3, H, P);
// the Transformer's Linear stores (out, in) with query_key_value rows per head (H, 3, P).
// One table, read in both directions (load: GPT-2 -> ssmlab; save: ssmlab -> GPT-2).
enum class Layout { Same, Transposed, QkvWeight, QkvBias };
struct NamePair {
  const char* gpt2;
  const char* neox;
  Layout layout;
};
const NamePair kGpt2Top[] = {
    {"transformer.wte.weight", "gpt_neox.embed_in.weight", Layout::Same},
    {"transformer.wpe.weight", "gpt_neox.embed_pos.weight", Layout::Same},
    {"transformer.ln_f.weight", "gpt_neox.final_layer_norm.weight", Layout::Same},
    {"transformer.ln_f.bias", "gpt_neox.final_layer_norm.bias", Layout::Same},
    {"lm_head.weight", "embed_out.weight", Layout::Same}};
const NamePair kGpt2Layer[] = {  // after "transformer.h.{i}." / "gpt_neox.layers.{i}."
    {"ln_1.weight", "input_layernorm.weight", Layout::Same},
    {"ln_1.bias", "input_layernorm.bias", Layout::Same},
    {"ln_2.weight", "post_attention_layernorm.weight", Layout::Same},
    {"ln_2.bias", "post_attention_layernorm.bias", Layout::Same},
    {"attn.c_attn.weight", "attention.query_key_value.weight", Layout::QkvWeight},
    {"attn.c_attn.bias", "attention.query_key_value.bias", Layout::QkvBias},
    {"attn.c_proj.weight", "attention.dense.weight", Layout::Transposed},
    {"attn.c_proj.bias", "attention.dense.bias", Layout::Same},
    {"mlp.c_fc.weight", "mlp.dense_h_to_4h.weight", Layout::Transposed},
    {"mlp.c_fc.bias", "mlp.dense_h_to_4h.bias", Layout::Same},
    {"mlp.c_proj.weight", "mlp.dense_4h_to_h.weight", Layout::Transposed},
    {"mlp.c_proj.bias", "mlp.dense_4h_to_h.bias", Layout::Same}};
const std::regex kGpt2LayerName(R"(transformer\.h\.(\d+)\.(.*))");
const std::regex kNeoxLayerName(R"(gpt_neox\.layers\.(\d+)\.(.*))");

// Rows (3D, ...) ordered (3, H, P) <-> (H, 3, P).
Tensor reorder_qkv_rows(const Tensor& t, int64_t H, bool to_per_head) {
  auto s = t.sizes().vec();
  const int64_t P = s[0] / (3 * H);
  std::vector<int64_t> v = to_per_head ? std::vector<int64_t>{3, H, P} : std::vector<int64_t>{H, 3, P};
  v.insert(v.end(), s.begin() + 1, s.end());
  std::vector<int64_t> perm{1, 0, 2};
  for (size_t i = 3; i < v.size(); ++i) perm.push_back(static_cast<int64_t>(i));
  return t.reshape(v).permute(perm).reshape(s).contiguous();
}

// A tensor in the other naming's layout. Tensors of an unexpected rank pass unchanged (load_strict
// then reports the shape).
Tensor convert(const Tensor& t, Layout layout, int64_t H, bool to_neox) {
  const bool matrix = t.dim() == 2;
  switch (layout) {
    case Layout::Same: return t;
    case Layout::Transposed: return matrix ? t.t().contiguous() : t;
    case Layout::QkvWeight:
      if (!matrix) return t;
      return to_neox ? reorder_qkv_rows(t.t(), H, true) : reorder_qkv_rows(t, H, false).t().contiguous();
    case Layout::QkvBias: return t.dim() == 1 ? reorder_qkv_rows(t, H, to_neox) : t;
  }
  return t;
}

// to_neox: checkpoint (GPT-2) names -> parameters; unknown names pass through (load_strict reports
// them unless ignorable). Otherwise parameters -> GPT-2 names; an unknown parameter is an error.
TensorMap rename_gpt2(const TensorMap& in, int64_t H, bool to_neox) {
  TensorMap out;
  for (const auto& [k0, t] : in) {
    std::string k = k0;
    if (to_neox && k.rfind("transformer.", 0) != 0 && k.rfind("lm_head.", 0) != 0) k = "transformer." + k;  // the original gpt2 files
    bool done = false;
    for (const auto& n : kGpt2Top)
      if (k == (to_neox ? n.gpt2 : n.neox)) {
        out[to_neox ? n.neox : n.gpt2] = convert(t, n.layout, H, to_neox);
        done = true;
      }
    std::smatch m;
    if (!done && std::regex_match(k, m, to_neox ? kGpt2LayerName : kNeoxLayerName)) {
      const std::string prefix = (to_neox ? "gpt_neox.layers." : "transformer.h.") + m[1].str() + ".";
      for (const auto& n : kGpt2Layer)
        if (m[2].str() == (to_neox ? n.gpt2 : n.neox)) {
          out[prefix + (to_neox ? n.neox : n.gpt2)] = convert(t, n.layout, H, to_neox);
          done = true;
        }
    }
    if (done) continue;
    if (!to_neox) throw Error("save_pretrained: no GPT-2 name for parameter " + k);
    out[k] = t;
  }
  return out;
}

std::string dtype_label(torch::ScalarType t) {
  if (t == torch::kFloat32) return "float32";
  if (t == torch::kBFloat16) return "bfloat16";
  if (t == torch::kFloat16) return "float16";
  throw Error("save_pretrained: weights can be saved as fp32, bf16 or fp16 only");
}


}  // namespace

// ---------------------------------------------------------------------------------------------
models::LanguageModel model_from_config(const CheckpointConfig& cfg) {
  using namespace models;
  switch (cfg.arch) {
    case Arch::GPTNeoX: {
      const auto& c = cfg.neox;
      return std::make_shared<TransformerLMImpl>(TransformerOptions(c.hidden_size, c.num_layers, c.num_heads, c.vocab_size)
                                                     .d_ff(c.intermediate_size)
                                                     .pos(PosEncoding::Rope)
                                                     .rotary_pct(c.rotary_pct)
                                                     .rope_base(c.rope_theta)
                                                     .parallel_residual(c.parallel_residual)
                                                     .activation(parse_activation(c.act))
                                                     .attention_bias(c.attention_bias)
                                                     .tie_embeddings(c.tie_word_embeddings)
                                                     .ln_eps(c.layer_norm_eps));
    }
    case Arch::GPT2: {
      const auto& c = cfg.gpt2;
      return std::make_shared<TransformerLMImpl>(TransformerOptions(c.n_embd, c.n_layer, c.n_head, c.vocab_size)
                                                     .d_ff(c.n_inner)
                                                     .pos(PosEncoding::Learned)
                                                     .max_position_embeddings(c.n_positions)
                                                     .activation(parse_activation(c.act))
                                                     .tie_embeddings(c.tie_word_embeddings)
                                                     .ln_eps(c.layer_norm_eps));
    }
    case Arch::Mamba: {
      const auto& c = cfg.mamba;
      return std::make_shared<MambaLMImpl>(MambaOptions(c.d_model, c.n_layer, c.vocab_size)
                                               .pad_vocab_size_multiple(1)  // vocab_size already counts padded rows
                                               .d_state(c.d_state)
                                               .d_conv(c.d_conv)
                                               .expand(c.expand)
                                               .dt_rank(c.dt_rank)
                                               .conv_bias(c.conv_bias)
                                               .bias(c.bias)
                                               .norm_eps(c.norm_eps)
                                               .residual_in_fp32(c.residual_in_fp32)
                                               .tie_embeddings(c.tie_embeddings));
    }
    case Arch::Mamba2: {
      const auto& c = cfg.mamba2;
      return std::make_shared<Mamba2LMImpl>(Mamba2Options(c.d_model, c.n_layer, c.vocab_size)
                                                .pad_vocab_size_multiple(1)
                                                .d_state(c.d_state)
                                                .d_conv(c.d_conv)
                                                .expand(c.expand)
                                                .headdim(c.headdim)
                                                .ngroups(c.ngroups)
                                                .chunk_size(c.chunk_size)
                                                .conv_bias(c.conv_bias)
                                                .bias(c.bias)
                                                .norm_eps(c.norm_eps)
                                                .tie_embeddings(c.tie_embeddings)
                                                .norm_per_group(false));  // transformers' gated norm spans all groups
    }
    case Arch::SsmlabTransformer:
    case Arch::SsmlabMoeTransformer: {  // n_experts = 0 (dense) for ssmlab_transformer
      const auto& c = cfg.ssmlab;
      return std::make_shared<TransformerLMImpl>(TransformerOptions(c.d_model, c.n_layer, c.n_head, c.vocab_size)
                                                     .d_ff(c.d_ff)
                                                     .pos(parse_pos_encoding(c.pos))
                                                     .rotary_pct(c.rotary_pct)
                                                     .rope_base(c.rope_base)
                                                     .n_masked_heads(c.n_masked_heads)
                                                     .windows(c.windows)
                                                     .parallel_residual(c.parallel_residual)
                                                     .activation(parse_activation(c.activation))
                                                     .tie_embeddings(c.tie_embeddings)
                                                     .ln_eps(c.ln_eps)
                                                     .n_experts(c.n_experts)
                                                     .top_k(std::max<int64_t>(1, c.top_k)));
    }
    case Arch::SsmlabLSTM:
      return std::make_shared<LSTMLMImpl>(LSTMLMOptions(cfg.ssmlab.d_model, cfg.ssmlab.n_layer, cfg.ssmlab.vocab_size));
  }
  throw Error("unknown architecture");
}

void load_weights(models::LanguageModelImpl& model, const CheckpointConfig& cfg, TensorMap tensors) {
  StrictLoadRules rules;
  switch (cfg.arch) {
    case Arch::GPTNeoX:
      rules.ignorable = [](const std::string& n) {
        return ends_with(n, ".attention.bias") || ends_with(n, ".attention.masked_bias") || ends_with(n, ".rotary_emb.inv_freq");
      };
      if (cfg.neox.tie_word_embeddings) rules.tied["embed_out.weight"] = "gpt_neox.embed_in.weight";
      break;
    case Arch::GPT2:
      tensors = rename_gpt2(tensors, cfg.gpt2.n_head, /*to_neox=*/true);
      rules.ignorable = [](const std::string& n) { return ends_with(n, ".attn.bias") || ends_with(n, ".attn.masked_bias"); };
      if (cfg.gpt2.tie_word_embeddings) rules.tied["embed_out.weight"] = "gpt_neox.embed_in.weight";
      break;
    case Arch::Mamba: {
      auto it = tensors.find("backbone.embedding.weight");  // state-spaces layout
      if (it != tensors.end()) {
        if (tensors.count("backbone.embeddings.weight"))
          throw Error("checkpoint has both backbone.embedding.weight and backbone.embeddings.weight");
        tensors["backbone.embeddings.weight"] = it->second;
        tensors.erase(it);
      }
      if (cfg.mamba.tie_embeddings) rules.tied["lm_head.weight"] = "backbone.embeddings.weight";
      break;
    }
    case Arch::Mamba2:
      if (cfg.mamba2.tie_embeddings) rules.tied["lm_head.weight"] = "backbone.embeddings.weight";
      break;
    case Arch::SsmlabTransformer:
    case Arch::SsmlabMoeTransformer:
      if (cfg.ssmlab.tie_embeddings) rules.tied["embed_out.weight"] = "gpt_neox.embed_in.weight";
      break;
    case Arch::SsmlabLSTM: break;
  }
  load_strict(model, tensors, rules);
}

torch::ScalarType dtype_from_name(const std::string& name) {
  if (name == "fp32") return torch::kFloat32;
  if (name == "bf16") return torch::kBFloat16;
  if (name == "fp16") return torch::kFloat16;
  throw Error("dtype must be fp32, bf16 or fp16 (got '" + name + "')");
}

LoadOptions text_tool_load_options(torch::Device device, const std::string& dtype_name, const std::string& tokenizer_path,
                                   bool allow_unknown_keys) {
  LoadOptions lo;
  lo.device = device;
  lo.dtype = dtype_from_name(dtype_name);
  lo.config.allow_unknown_keys = allow_unknown_keys;
  lo.require_tokenizer = true;
  lo.tokenizer_path = tokenizer_path;
  return lo;
}

Pretrained load_pretrained(const std::string& dir, const LoadOptions& opt) {
  if (opt.dtype != torch::kFloat32 && opt.dtype != torch::kBFloat16 && opt.dtype != torch::kFloat16)
    throw Error("load_pretrained: dtype must be fp32, bf16 or fp16");
  // The folder itself first, with what was meant when it is not one (a file, a mamba_train run folder).
  const fs::path folder(dir);
  if (!fs::exists(folder))
    throw Error("no such checkpoint folder: '" + dir + "' (a Hugging Face folder with config.json and weights)");
  if (!fs::is_directory(folder))
    throw Error("'" + dir + "' is a file, not a checkpoint folder (a Hugging Face folder with config.json and weights)");
  if (!fs::exists(folder / "config.json")) {
    std::string hint;
    if (fs::exists(folder / "best" / "config.json"))
      hint = "; it looks like a mamba_train run folder: its best model is " + (folder / "best").string();
    throw Error("no config.json in '" + dir + "'" + hint);
  }
  Pretrained p;
  p.config = load_config(dir, opt.config);
  // The tokenizer first: a mismatch is found before any weights are read.
  // A tokenizer file, or a folder with tokenizer.json or GPT-2's vocab.json + merges.txt
  // (Tokenizer::from_file reads all three).
  const fs::path tok = opt.tokenizer_path.empty() ? fs::path(dir) : fs::path(opt.tokenizer_path);
  const bool found = fs::is_directory(tok) ? fs::exists(tok / "tokenizer.json") ||
                                                 (fs::exists(tok / "vocab.json") && fs::exists(tok / "merges.txt"))
                                           : fs::exists(tok);
  if (!opt.tokenizer_path.empty() && !found) throw Error(tok.string() + ": no tokenizer file (tokenizer.json, or vocab.json + merges.txt)");
  if (found) {
    p.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_file(tok.string()));
    if (p.tokenizer->vocab_size() > p.config.vocab_size())
      throw Error(tok.string() + ": the tokenizer has " + std::to_string(p.tokenizer->vocab_size()) +
                  " ids but the model's vocab_size (config.json) is only " + std::to_string(p.config.vocab_size()));
  } else if (opt.require_tokenizer) {
    throw Error(dir + ": no tokenizer.json (or vocab.json + merges.txt) in the model folder (pass a tokenizer file)");
  }
  try {
    p.model = model_from_config(p.config);
  } catch (const std::invalid_argument& e) {
    throw Error(dir + "/config.json: " + e.what());
  }
  TensorMap tensors = load_checkpoint_tensors(dir, &p.weights_file);
  try {
    load_weights(*p.model, p.config, std::move(tensors));
  } catch (const Error& e) {
    throw Error(p.weights_file + ": " + e.what());
  }
  p.model->eval();
  if (opt.dtype != torch::kFloat32) p.model->to(opt.dtype);
  if (opt.device != torch::Device(torch::kCPU)) p.model->to(opt.device);
  return p;
}

// ---------------------------------------------------------------------------------------------
std::string save_pretrained(models::LanguageModelImpl& model, const std::string& dir, const SaveOptions& opt) {
  using namespace models;
  const std::string dt = dtype_label(opt.dtype);
  json cfg;
  TensorMap params;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) params[p.key()] = p.value().detach().to(torch::kCPU, opt.dtype);
  if (auto* t = dynamic_cast<TransformerLMImpl*>(&model)) {
    const auto& o = t->options;
    if (o.n_experts() > 0) {  // no transformers class has this MoE (config.h): an ssmlab-only folder
      if (o.pos() == PosEncoding::Learned) throw Error("save_pretrained: a learned-position MoE Transformer has no folder layout");
      cfg = {{"model_type", "ssmlab_moe_transformer"}, {"pos", to_string(o.pos())}, {"vocab_size", o.vocab_size()},
             {"d_model", o.d_model()}, {"n_layer", o.n_layer()}, {"n_head", o.n_head()}, {"d_ff", o.d_ff()},
             {"n_experts", o.n_experts()}, {"top_k", o.top_k()},
             {"n_masked_heads", o.n_masked_heads()}, {"windows", o.windows()}, {"rotary_pct", o.rotary_pct()},
             {"rope_base", o.rope_base()}, {"layer_norm_eps", o.ln_eps()}, {"parallel_residual", o.parallel_residual()},
             {"tie_word_embeddings", o.tie_embeddings()}, {"hidden_act", to_string(o.activation())}};
      if (!o.attention_bias()) throw Error("save_pretrained: the ssmlab Transformer folders assume attention biases");
    } else if (o.pos() == PosEncoding::Learned) {
      if (o.parallel_residual() || !o.attention_bias())
        throw Error("save_pretrained: a learned-position Transformer is saved as GPT-2, which has a sequential residual and biases");
      cfg = {{"model_type", "gpt2"}, {"architectures", {"GPT2LMHeadModel"}}, {"vocab_size", o.vocab_size()},
             {"n_embd", o.d_model()}, {"n_layer", o.n_layer()}, {"n_head", o.n_head()}, {"n_inner", o.ff()},
             {"n_positions", o.max_position_embeddings()}, {"activation_function", to_string(o.activation())},
             {"layer_norm_epsilon", o.ln_eps()}, {"tie_word_embeddings", o.tie_embeddings()},
             {"attn_pdrop", 0.0}, {"embd_pdrop", 0.0}, {"resid_pdrop", 0.0}};
      params = rename_gpt2(params, o.n_head(), /*to_neox=*/false);
    } else if (o.pos() == PosEncoding::Rope) {
      cfg = {{"model_type", "gpt_neox"}, {"architectures", {"GPTNeoXForCausalLM"}}, {"vocab_size", o.vocab_size()},
             {"hidden_size", o.d_model()}, {"num_hidden_layers", o.n_layer()}, {"num_attention_heads", o.n_head()},
             {"intermediate_size", o.ff()}, {"hidden_act", to_string(o.activation())},
             {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", o.rope_base()}, {"partial_rotary_factor", o.rotary_pct()}}},
             {"use_parallel_residual", o.parallel_residual()}, {"attention_bias", o.attention_bias()},
             {"layer_norm_eps", o.ln_eps()}, {"tie_word_embeddings", o.tie_embeddings()},
             {"max_position_embeddings", 2048}, {"attention_dropout", 0.0}, {"hidden_dropout", 0.0}};
      if (!o.attention_bias()) throw Error("save_pretrained: GPT-NeoX export needs attention biases");
    } else {
      cfg = {{"model_type", "ssmlab_transformer"}, {"pos", to_string(o.pos())}, {"vocab_size", o.vocab_size()},
             {"d_model", o.d_model()}, {"n_layer", o.n_layer()}, {"n_head", o.n_head()}, {"d_ff", o.d_ff()},
             {"n_masked_heads", o.n_masked_heads()}, {"windows", o.windows()}, {"rotary_pct", o.rotary_pct()},
             {"rope_base", o.rope_base()}, {"layer_norm_eps", o.ln_eps()}, {"parallel_residual", o.parallel_residual()},
             {"tie_word_embeddings", o.tie_embeddings()}, {"hidden_act", to_string(o.activation())}};
    }
    if (o.tie_embeddings()) params.erase(o.pos() == PosEncoding::Learned ? "lm_head.weight" : "embed_out.weight");
  } else if (auto* m = dynamic_cast<MambaLMImpl*>(&model)) {
    const auto& o = m->options;
    cfg = {{"model_type", "mamba"}, {"architectures", {"MambaForCausalLM"}}, {"vocab_size", o.padded_vocab()},
           {"hidden_size", o.d_model()}, {"num_hidden_layers", o.n_layer()}, {"state_size", o.d_state()},
           {"conv_kernel", o.d_conv()}, {"expand", o.expand()}, {"intermediate_size", o.d_inner()},
           {"time_step_rank", o.resolved_dt_rank()}, {"use_bias", o.bias()}, {"use_conv_bias", o.conv_bias()},
           {"hidden_act", "silu"}, {"layer_norm_epsilon", o.norm_eps()}, {"residual_in_fp32", o.residual_in_fp32()},
           {"tie_word_embeddings", o.tie_embeddings()}};
  } else if (auto* m2 = dynamic_cast<Mamba2LMImpl*>(&model)) {
    const auto& o = m2->options;
    if (o.norm_per_group() && o.ngroups() > 1)
      throw Error("save_pretrained: this Mamba-2 normalises per group (mamba-ssm, ngroups " + std::to_string(o.ngroups()) +
                  "); transformers' Mamba2ForCausalLM normalises over all groups and would compute another model");
    cfg = {{"model_type", "mamba2"}, {"architectures", {"Mamba2ForCausalLM"}}, {"vocab_size", o.padded_vocab()},
           {"hidden_size", o.d_model()}, {"num_hidden_layers", o.n_layer()}, {"state_size", o.d_state()},
           {"conv_kernel", o.d_conv()}, {"expand", o.expand()}, {"head_dim", o.headdim()}, {"num_heads", o.nheads()},
           {"n_groups", o.ngroups()}, {"chunk_size", o.chunk_size()}, {"use_bias", o.bias()},
           {"use_conv_bias", o.conv_bias()}, {"hidden_act", "silu"}, {"layer_norm_epsilon", o.norm_eps()},
           {"residual_in_fp32", true}, {"rms_norm", true}, {"tie_word_embeddings", o.tie_embeddings()}};
  } else if (auto* l = dynamic_cast<LSTMLMImpl*>(&model)) {
    cfg = {{"model_type", "ssmlab_lstm"}, {"vocab_size", l->options.vocab_size()}, {"d_model", l->options.d_model()},
           {"n_layer", l->options.n_layer()}};
  } else {
    throw Error("save_pretrained: model family '" + model.family() + "' has no Hugging Face layout");
  }
  cfg["dtype"] = dt;
  cfg["ssmlab_family"] = model.family();
  if (opt.eos_token_id >= 0) cfg["eos_token_id"] = opt.eos_token_id;

  // Everything goes into a sibling temp folder first, which then replaces `dir`.
  std::string target = dir;
  while (target.size() > 1 && target.back() == '/') target.pop_back();
  if (target.empty()) throw Error("save_pretrained: empty folder name");
  if (path_exists(target) && !is_dir(target)) throw Error(dir + ": exists and is not a folder");
  const std::string parent = fs::path(target).parent_path().string();
  if (!parent.empty() && !is_dir(parent)) throw Error(dir + ": the parent folder " + parent + " does not exist");
  const fs::path tmp = target + ".tmp." + std::to_string(::getpid());
  remove_tree(tmp.string());
  if (::mkdir(tmp.c_str(), 0755) != 0) throw Error("save_pretrained: cannot create " + tmp.string() + ": " + std::strerror(errno));
  try {
    write_file_atomic((tmp / "config.json").string(), cfg.dump(2) + "\n");
    write_safetensors((tmp / "model.safetensors").string(), params, {{"format", "pt"}});
    if (!opt.tokenizer_file.empty()) {
      write_file_atomic((tmp / "tokenizer.json").string(), read_regular_file(opt.tokenizer_file, kMaxJsonFileBytes, "tokenizer file"));
    }
    if (path_exists(target)) {
      const std::string old = target + ".old." + std::to_string(::getpid());
      remove_tree(old);
      rename_or_throw(target, old);
      rename_or_throw(tmp.string(), target);
      remove_tree(old);
    } else {
      rename_or_throw(tmp.string(), target);
    }
  } catch (...) {
    remove_tree(tmp.string());
    throw;
  }
  return cfg["model_type"].get<std::string>();
}

}  // namespace ssmlab::hf
