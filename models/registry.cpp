// registry.cpp — make_model / param_count / match_params (registry.h).
#include "models/registry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>

#include "kernels/kernel_impl.h"
#include "models/lstm.h"
#include "models/mamba.h"
#include "models/mamba2.h"
#include "models/transformer.h"
#include "ssmlab/main_guard.h"

namespace ssmlab::models {

// ---- registry ---------------------------------------------------------------------------
nlohmann::json ModelConfig::to_json() const {
  return {{"vocab_size", vocab_size}, {"d_model", d_model},     {"n_layer", n_layer},       {"n_head", n_head},
          {"d_ff", d_ff},             {"rotary_pct", rotary_pct}, {"rope_base", rope_base}, {"n_masked_heads", n_masked_heads},
          {"n_experts", n_experts},   {"top_k", top_k},
          {"d_state", d_state},       {"d_conv", d_conv},       {"expand", expand},         {"dt_rank", dt_rank},
          {"headdim", headdim},       {"ngroups", ngroups},     {"chunk_size", chunk_size}, {"dropout", dropout},
          {"kernel_impl", kernel_impl}};
}

void add_model_flags(Cli& cli, ModelConfig* mc) {
  cli.add("d-model", &mc->d_model, "model width D").at_least(int64_t{1});
  cli.add("n-layer", &mc->n_layer, "number of layers").at_least(int64_t{1});
  cli.add("n-head", &mc->n_head, "attention heads (Transformers)").at_least(int64_t{1});
  cli.add("d-ff", &mc->d_ff, "MLP width (0 = 4 d_model)").at_least(int64_t{0});
  cli.add("rotary-pct", &mc->rotary_pct, "fraction of head dims rotated by RoPE").at_least(0.0).at_most(1.0);
  cli.add("rope-base", &mc->rope_base, "RoPE base").greater_than(0.0);
  cli.add("n-masked-heads", &mc->n_masked_heads, "Hard-ALiBi windowed heads (-1 = n_head/2)").at_least(int64_t{-1});
  cli.add("n-experts", &mc->n_experts, "MoE MLP experts (T_rope_moe)").at_least(int64_t{1});
  cli.add("top-k", &mc->top_k, "experts per token, <= --n-experts (T_rope_moe)").at_least(int64_t{1});
  cli.add("d-state", &mc->d_state, "SSM state size N").at_least(int64_t{1});
  cli.add("d-conv", &mc->d_conv, "SSM conv kernel").at_least(int64_t{1});
  cli.add("expand", &mc->expand, "SSM expansion E/D").at_least(int64_t{1});
  cli.add("dt-rank", &mc->dt_rank, "Mamba dt_rank (0 = ceil(D/16))").at_least(int64_t{0});
  cli.add("headdim", &mc->headdim, "Mamba-2 head dim P").at_least(int64_t{1});
  cli.add("ngroups", &mc->ngroups, "Mamba-2 B/C groups").at_least(int64_t{1});
  cli.add("chunk-size", &mc->chunk_size, "Mamba-2 SSD chunk length").at_least(int64_t{1});
  cli.add("dropout", &mc->dropout, "LSTM dropout between layers").at_least(0.0).less_than(1.0);
  cli.add("kernel-impl", &mc->kernel_impl, "scan/conv/SSD kernels: auto|reference|cpu_fused|cuda")
      .one_of(kernels::kernel_impl_names());
}

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"T_rope", "T_nope", "T_alibi", "T_hard_alibi", "T_rope_moe",
                                                "mamba",  "mamba2", "lstm"};
  return names;
}

namespace {
bool is_transformer(const std::string& name) { return name.rfind("T_", 0) == 0; }
bool is_moe(const std::string& name) { return name == "T_rope_moe"; }

TransformerOptions transformer_options(const std::string& name, const ModelConfig& mc) {
  return TransformerOptions(mc.d_model, mc.n_layer, mc.n_head, mc.vocab_size)
      .d_ff(mc.d_ff)
      .pos(parse_pos_encoding(is_moe(name) ? "rope" : name.substr(2)))
      .rotary_pct(mc.rotary_pct)
      .rope_base(mc.rope_base)
      .n_masked_heads(mc.n_masked_heads)
      .n_experts(is_moe(name) ? mc.n_experts : 0)
      .top_k(mc.top_k);
}
MambaOptions mamba_options(const ModelConfig& mc) {
  return MambaOptions(mc.d_model, mc.n_layer, mc.vocab_size)
      .d_state(mc.d_state)
      .d_conv(mc.d_conv)
      .expand(mc.expand)
      .dt_rank(mc.dt_rank)
      .kernel_impl(kernels::kernel_impl_from_string(mc.kernel_impl));
}
Mamba2Options mamba2_options(const ModelConfig& mc) {
  return Mamba2Options(mc.d_model, mc.n_layer, mc.vocab_size)
      .d_state(mc.d_state)
      .d_conv(mc.d_conv)
      .expand(mc.expand)
      .headdim(mc.headdim)
      .ngroups(mc.ngroups)
      .chunk_size(mc.chunk_size)
      .kernel_impl(kernels::kernel_impl_from_string(mc.kernel_impl));
}
LSTMLMOptions lstm_options(const ModelConfig& mc) {
  return LSTMLMOptions(mc.d_model, mc.n_layer, mc.vocab_size).dropout(mc.dropout);
}
void check_name(const std::string& name) {
  for (const auto& n : model_names())
    if (n == name) return;
  std::string list;
  for (const auto& n : model_names()) list += (list.empty() ? "" : "|") + n;
  throw std::invalid_argument("unknown model '" + name + "' (expected " + list + ")");
}
void check_config(const std::string& name, const ModelConfig& mc) {
  kernels::kernel_impl_from_string(mc.kernel_impl);  // throws std::invalid_argument for an unknown name
  if (is_transformer(name) && mc.d_model % mc.n_head != 0)
    throw std::invalid_argument(name + ": d_model " + std::to_string(mc.d_model) + " must be divisible by n_head " +
                                std::to_string(mc.n_head));
  if (is_moe(name) && (mc.n_experts < 1 || mc.top_k < 1 || mc.top_k > mc.n_experts))
    throw std::invalid_argument(name + ": top_k " + std::to_string(mc.top_k) + " must be in [1, n_experts = " +
                                std::to_string(mc.n_experts) + "]");
  if (name == "mamba2") {
    const int64_t E = mc.expand * mc.d_model;
    if (E % mc.headdim != 0)
      throw std::invalid_argument("mamba2: d_inner " + std::to_string(E) + " must be divisible by headdim " + std::to_string(mc.headdim));
    if ((E / mc.headdim) % mc.ngroups != 0)
      throw std::invalid_argument("mamba2: nheads " + std::to_string(E / mc.headdim) + " must be divisible by ngroups " +
                                  std::to_string(mc.ngroups));
  }
}
}  // namespace

LanguageModel make_model(const std::string& name, const ModelConfig& mc) {
  check_name(name);
  check_config(name, mc);
  if (is_transformer(name)) return std::make_shared<TransformerLMImpl>(transformer_options(name, mc));
  if (name == "mamba") return std::make_shared<MambaLMImpl>(mamba_options(mc));
  if (name == "mamba2") return std::make_shared<Mamba2LMImpl>(mamba2_options(mc));
  return std::make_shared<LSTMLMImpl>(lstm_options(mc));
}

void check_model_fits(const std::string& name, const ModelConfig& mc, std::uint64_t available_bytes, bool training) {
  try {
    check_name(name);
    kernels::kernel_impl_from_string(mc.kernel_impl);
  } catch (const std::exception& e) {
    throw UsageError(std::string("--model/--kernel-impl: ") + e.what());
  }
  auto d = [](int64_t v) { return std::to_string(v); };
  if (is_transformer(name) && mc.d_model % mc.n_head != 0)
    throw UsageError("--d-model " + d(mc.d_model) + " must be divisible by --n-head " + d(mc.n_head) + " (" + name + ")");
  if (is_transformer(name) && mc.n_masked_heads > mc.n_head)
    throw UsageError("--n-masked-heads " + d(mc.n_masked_heads) + " must be <= --n-head " + d(mc.n_head));
  if (is_moe(name) && (mc.n_experts < 1 || mc.top_k < 1 || mc.top_k > mc.n_experts))
    throw UsageError("--top-k " + d(mc.top_k) + " must be between 1 and --n-experts " + d(mc.n_experts) + " (" + name + ")");
  if (name == "mamba2") {
    const double E = static_cast<double>(mc.expand) * static_cast<double>(mc.d_model);
    if (E < 9e15) {
      const int64_t e = mc.expand * mc.d_model;
      if (e % mc.headdim != 0)
        throw UsageError("--expand x --d-model = " + d(e) + " must be divisible by --headdim " + d(mc.headdim) + " (mamba2)");
      if ((e / mc.headdim) % mc.ngroups != 0)
        throw UsageError("the mamba2 head count " + d(e / mc.headdim) + " must be divisible by --ngroups " + d(mc.ngroups));
    }
  }
  // A rough count in double first (the exact one overflows int64 for absurd widths), then the
  // exact one; each parameter costs 4 bytes, and in training 16 (gradient and two AdamW moments).
  const double D = static_cast<double>(mc.d_model), L = static_cast<double>(mc.n_layer);
  const double F = mc.d_ff > 0 ? static_cast<double>(mc.d_ff) : 4 * D;
  const double E = static_cast<double>(mc.expand) * D, N = static_cast<double>(mc.d_state);
  double rough = static_cast<double>(mc.vocab_size) * D * 2;
  if (is_transformer(name)) rough += L * (4 * D * D + 2 * D * F * (is_moe(name) ? static_cast<double>(mc.n_experts) : 1.0));
  else if (name == "lstm") rough += L * 8 * D * D;
  else rough += L * (3 * D * E + E * (2 * N + static_cast<double>(mc.d_conv) + 4) + E * E / 8);
  const double per_param = training ? 16.0 : 4.0;
  const std::string what = std::string(training ? "fp32 parameters, gradients and AdamW moments" : "fp32 parameters");
  const std::string flags = "--d-model " + d(mc.d_model) + " / --n-layer " + d(mc.n_layer);
  if (rough > 1e15)
    check_fits_in_memory(flags, what + " of more than 1e15 parameters", rough * per_param, available_bytes);
  const double n = static_cast<double>(param_count(name, mc));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", n);
  check_fits_in_memory(flags, what + " of " + buf + " parameters (" + name + ")", n * per_param, available_bytes);
}

int64_t param_count(const std::string& name, const ModelConfig& mc) {
  check_name(name);
  if (is_transformer(name)) return transformer_param_count(transformer_options(name, mc));
  if (name == "mamba") return mamba_param_count(mamba_options(mc));
  if (name == "mamba2") return mamba2_param_count(mamba2_options(mc));
  return lstm_param_count(lstm_options(mc));
}

int64_t active_param_count(const std::string& name, const ModelConfig& mc) {
  check_name(name);
  if (is_transformer(name)) return transformer_active_param_count(transformer_options(name, mc));
  return param_count(name, mc);
}

ModelConfig match_params(int64_t target, const std::string& name, const ModelConfig& base, double tolerance,
                         int64_t fixed_layers) {
  check_name(name);
  if (fixed_layers > 0) {  // depth fixed, width scanned, the closest count wins
    ModelConfig c = base;
    c.n_layer = fixed_layers;
    const int64_t step = std::max<int64_t>(1, is_transformer(name) ? base.n_head : name == "mamba2" ? base.headdim : 1);
    int64_t best = -1, best_err = 0;
    for (int64_t d = step; d <= 4096; d += step) {
      c.d_model = d;
      int64_t err = 0;
      try {
        err = std::abs(param_count(name, c) - target);
      } catch (const std::exception&) {  // an inconsistent width (e.g. Mamba-2 groups): skipped
        continue;
      }
      if (best < 0 || err < best_err) best = d, best_err = err;
    }
    if (best < 0)
      throw std::runtime_error("match_params: no " + name + " width builds at " + std::to_string(fixed_layers) + " layers");
    c.d_model = best;
    return c;
  }
  // Width grid: multiples of lcm-ish step that keep heads / Mamba-2 heads valid.
  int64_t step = 8;
  if (is_transformer(name)) step = std::max<int64_t>(8, base.n_head);
  if (name == "mamba2") step = std::max<int64_t>(8, base.headdim);
  // Usual depth for a width: transformers and LSTMs ~ D/64, Mamba (two mixers per "layer") ~ D/32.
  const double layers_per_width = (name == "mamba" || name == "mamba2") ? 1.0 / 32.0 : 1.0 / 64.0;
  ModelConfig best = base;
  double best_score = std::numeric_limits<double>::infinity();
  bool found = false;
  for (int64_t d = step; d <= 8192; d += step) {
    if (is_transformer(name) && d % base.n_head != 0) continue;
    if (name == "mamba2" && ((base.expand * d) % base.headdim != 0 || ((base.expand * d) / base.headdim) % base.ngroups != 0)) continue;
    for (int64_t n = 1; n <= 64; ++n) {
      ModelConfig c = base;
      c.d_model = d;
      c.n_layer = n;
      const double rel = std::abs(static_cast<double>(param_count(name, c) - target)) / static_cast<double>(target);
      if (rel > tolerance) continue;
      // Prefer the usual aspect ratio, then the closest count.
      const double ideal = std::max(1.0, static_cast<double>(d) * layers_per_width);
      const double score = std::abs(std::log(static_cast<double>(n) / ideal)) + rel;
      if (score < best_score) {
        best_score = score;
        best = c;
        found = true;
      }
    }
  }
  if (!found)
    throw std::runtime_error("match_params: no " + name + " config within " + std::to_string(tolerance * 100) +
                             "% of " + std::to_string(target) + " parameters");
  return best;
}

}  // namespace ssmlab::models
