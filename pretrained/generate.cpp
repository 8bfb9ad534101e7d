// generate: text generation from a Hugging Face checkpoint folder (GPT-NeoX/Pythia, GPT-2, Mamba,
// Mamba-2) or a folder ssmlab saved (hf::save_pretrained), on the CPU or a GPU.
//
//   generate --model DIR --prompt TEXT [--max-new-tokens N --temperature T --top-k K --top-p P --seed S]
//            [--device auto|cpu|cuda[:i] --dtype fp32|bf16|fp16 --stop STRING]
//   generate --model DIR --interactive          (one prompt per stdin line)
//
// The folder holds config.json, weights (model.safetensors, sharded safetensors or
// pytorch_model.bin) and tokenizer.json. Greedy when --temperature is 0 (default). Decoding uses the
// model's inference cache (models/generation.h): KV cache for Transformers, conv + SSM state for
// Mamba (O(1) per token). The continuation is streamed to stdout; the closing line (stderr) reports
// prefill time and decode tokens/s.
#include <cstdio>
#include <iostream>
#include <string>

#include <torch/torch.h>

#include "models/generation.h"
#include "models/torch_util.h"
#include "ssmlab/cli.h"
#include "ssmlab/hf/pretrained.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/timer.h"

namespace hf = ssmlab::hf;
namespace models = ssmlab::models;

namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";

struct Stats {
  int64_t prompt_tokens = 0, new_tokens = 0;
  double prefill_s = 0, decode_s = 0;
};

// Generates for one prompt, streaming decoded text (held back while it ends in a partial character).
Stats run_prompt(hf::Pretrained& p, const std::string& prompt, models::GenerationOptions opt, bool quiet) {
  Stats st;
  const auto ids = p.tokenizer->encode(prompt);
  if (ids.empty()) throw hf::Error("the prompt encodes to no tokens");
  st.prompt_tokens = static_cast<int64_t>(ids.size());
  std::vector<int64_t> out;
  std::size_t printed = 0;
  if (!quiet) {
    std::cout << prompt << std::flush;
  }
  ssmlab::Stopwatch sw;
  bool first = true;
  double t_first = 0;
  opt.on_token = [&](int64_t, int64_t tok) {
    if (first) {
      t_first = sw.seconds();
      first = false;
    }
    out.push_back(tok);
    if (quiet) return;
    const std::string text = p.tokenizer->decode(out, /*skip_special_tokens=*/true);
    const bool partial = text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0;
    if (!partial && text.size() > printed) {
      std::cout << text.substr(printed) << std::flush;
      printed = text.size();
    }
  };
  auto res = models::generate(*p.model, {ids}, opt);
  const double total = sw.seconds();
  if (res.finish_reason[0] == "position_limit")
    std::cerr << "\nwarning: stopped at the model's position limit (" << p.model->max_positions() << " tokens)\n";
  if (!quiet) {
    const std::string text = p.tokenizer->decode(out, true);
    if (text.size() > printed) std::cout << text.substr(printed);
    std::cout << "\n";
  }
  st.new_tokens = static_cast<int64_t>(out.size());
  st.prefill_s = t_first;
  st.decode_s = total - t_first;
  return st;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, prompt, tokenizer_path;
  long max_new_tokens = 64, top_k = 0;
  double temperature = 0.0, top_p = 1.0;
  bool interactive = false, ignore_eos = false, allow_unknown = false;
  std::string device_spec = "auto", dtype_name = "fp32";
  std::vector<std::string> stops;
  ssmlab::Cli cli("generate", "Generate text with a Hugging Face checkpoint folder (GPT-NeoX/Pythia, GPT-2, Mamba)",
                  "pretrained", "pretrained.jsonl");
  cli.add("model", &model_dir, "checkpoint folder: config.json, weights, tokenizer.json").nonempty();
  cli.add("tokenizer", &tokenizer_path, "tokenizer.json (or its folder) if not in --model (state-spaces/mamba-*)");
  cli.add("prompt", &prompt, "prompt text (required unless --interactive)");
  cli.add("max-new-tokens", &max_new_tokens, "tokens to generate per prompt").at_least(1);
  cli.add("temperature", &temperature, "sampling temperature; 0 = greedy").at_least(0.0);
  cli.add("top-k", &top_k, "keep the k most likely tokens (0 = all)").at_least(0);
  cli.add("top-p", &top_p, "nucleus sampling mass (1 = off)").greater_than(0.0).at_most(1.0);
  cli.add("device", &device_spec, "auto | cpu | cuda | cuda:i");
  cli.add("dtype", &dtype_name, "parameter dtype on the device").one_of({"fp32", "bf16", "fp16"});
  cli.add("stop", &stops, "stop a continuation once it contains this string (repeatable)");
  cli.flag("interactive", &interactive, "read prompts line by line from stdin");
  cli.flag("ignore-eos", &ignore_eos, "do not stop at the end-of-text token");
  cli.flag("allow-unknown-config", &allow_unknown, "ignore config.json keys ssmlab does not know");
  auto opts = cli.parse_or_exit(argc, argv);
  at::set_num_threads(opts.threads);
  if (!interactive && prompt.empty()) {
    std::cerr << "error: --prompt is required unless --interactive is given\n";
    return 2;
  }

  hf::Pretrained p;
  ssmlab::Stopwatch load_sw;
  torch::Device device(torch::kCPU);
  try {
    device = models::resolve_device(device_spec);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  try {
    hf::LoadOptions lo;
    lo.device = device;
    lo.dtype = dtype_name == "bf16" ? torch::kBFloat16 : dtype_name == "fp16" ? torch::kFloat16 : torch::kFloat32;
    lo.config.allow_unknown_keys = allow_unknown;
    lo.require_tokenizer = true;
    lo.tokenizer_path = tokenizer_path;
    p = hf::load_pretrained(model_dir, lo);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  for (const auto& w : p.config.warnings) std::cerr << "warning: " << w << "\n";
  ssmlab::progress(opts, p.config.summary() + ", weights " + p.weights_file + ", loaded in " +
                             std::to_string(load_sw.seconds()) + " s");

  models::GenerationOptions so;
  so.max_new_tokens = max_new_tokens;
  so.temperature = temperature;
  so.top_k = top_k;
  so.top_p = top_p;
  so.seed = opts.seed;
  if (!ignore_eos && p.config.eos_token_id >= 0) so.eos_token_ids = {p.config.eos_token_id};
  so.stop_strings = stops;
  so.decode = [&](const std::vector<int64_t>& ids) { return p.tokenizer->decode(ids, true); };

  ssmlab::RunLog run(opts, "generate");
  run.add_param("arch", hf::arch_name(p.config.arch));
  run.add_param("device", device.str());
  run.add_param("dtype", dtype_name);
  Stats total;
  int prompts = 0;
  auto one = [&](const std::string& text) -> bool {
    try {
      Stats s = run_prompt(p, text, so, opts.quiet);
      total.prompt_tokens += s.prompt_tokens;
      total.new_tokens += s.new_tokens;
      total.prefill_s += s.prefill_s;
      total.decode_s += s.decode_s;
      ++prompts;
      const double tps = s.decode_s > 0 ? (s.new_tokens - 1) / s.decode_s : 0.0;
      std::fprintf(stderr, "[%ld prompt tokens, prefill %.3f s; %ld new tokens, %.1f tokens/s]\n",
                   static_cast<long>(s.prompt_tokens), s.prefill_s, static_cast<long>(s.new_tokens), tps);
      return true;
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return false;
    }
  };
  bool ok = true;
  if (interactive) {
    std::string line;
    if (!opts.quiet) std::cerr << "> " << std::flush;
    while (std::getline(std::cin, line)) {
      if (!line.empty()) ok = one(line) && ok;
      if (!opts.quiet) std::cerr << "> " << std::flush;
    }
  } else {
    ok = one(prompt);
  }
  const double tps = total.decode_s > 0 ? (total.new_tokens - prompts) / total.decode_s : 0.0;
  nlohmann::json m = {{"prompts", prompts},           {"prompt_tokens", total.prompt_tokens},
                      {"new_tokens", total.new_tokens}, {"prefill_s", total.prefill_s},
                      {"decode_s", total.decode_s},     {"decode_tokens_per_s", tps}};
  char summary[200];
  std::snprintf(summary, sizeof summary, "%s: %ld new tokens, decode %.1f tokens/s (prefill %.3f s)",
                hf::arch_name(p.config.arch), static_cast<long>(total.new_tokens), tps, total.prefill_s);
  run.write(m, summary, ok);
  return ok ? 0 : 1;
}
