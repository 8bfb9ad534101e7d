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
// Mamba (O(1) per token). The prompt and continuation are streamed to stdout (incrementally: each
// token's bytes once, complete UTF-8 characters only); the per-prompt and closing lines (stderr)
// report prefill time and decode tokens/s. --quiet prints the continuation alone and hides those
// lines; warnings (such as stopping at the model's position limit) and errors stay on stderr.
#include "ssmlab/main_guard.h"
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include <torch/torch.h>

#include "models/generation.h"
#include "models/torch_util.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/hf/pretrained.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/timer.h"

namespace hf = ssmlab::hf;
namespace models = ssmlab::models;

namespace {

struct Stats {
  int64_t prompt_tokens = 0, new_tokens = 0;
  double prefill_s = 0, decode_s = 0;
  std::string finish_reason;
};

// Generates for one prompt and streams the continuation to stdout as it is decoded: each token's
// bytes are appended once (hf::DecodeStream), and only complete UTF-8 characters are printed, so
// the work per token does not grow with the text. With --quiet only the continuation is printed
// (no prompt echo); the summary and progress lines, on stderr, are what --quiet hides.
Stats run_prompt(hf::Pretrained& p, const std::string& prompt, models::GenerationOptions opt, bool quiet) {
  Stats st;
  const auto ids = p.tokenizer->encode(prompt);
  if (ids.empty()) throw hf::Error("the prompt encodes to no tokens");
  st.prompt_tokens = static_cast<int64_t>(ids.size());
  if (!quiet) std::cout << prompt << std::flush;
  hf::DecodeStream stream(*p.tokenizer, /*skip_special_tokens=*/true);
  std::string text;        // the continuation decoded so far
  std::size_t last_piece = 0;
  std::size_t longest_stop = 0;
  for (const auto& s : opt.stop_strings) longest_stop = std::max(longest_stop, s.size());
  ssmlab::Stopwatch sw;
  bool first = true;
  double t_first = 0;
  int64_t n_out = 0;
  opt.on_token = [&](int64_t, int64_t tok) {
    if (first) {
      t_first = sw.seconds();
      first = false;
    }
    ++n_out;
    const std::string piece = stream.push(tok);
    last_piece = piece.size();
    if (piece.empty()) return;
    std::cout << piece << std::flush;
    if (!opt.stop_strings.empty()) text += piece;
  };
  // Stop strings, checked incrementally: the generator calls this after on_token for each new
  // token, and a stop string that appears now must end inside the newest piece, so the window of
  // the newest piece plus the longest stop string's length is enough (earlier windows were checked).
  if (!opt.stop_strings.empty())
    opt.decode = [&](const std::vector<int64_t>&) {
      const std::size_t window = last_piece + longest_stop + 4;
      return text.size() > window ? text.substr(text.size() - window) : text;
    };
  auto res = models::generate(*p.model, {ids}, opt);
  const double total = sw.seconds();
  std::cout << stream.finish() << "\n" << std::flush;
  st.finish_reason = res.finish_reason[0];
  if (st.finish_reason == "position_limit")  // shown even with --quiet: the text is cut short
    std::cerr << "warning: generation stopped at the model's position limit (" << p.model->max_positions()
              << " tokens, prompt included), before --max-new-tokens\n";
  st.new_tokens = n_out;
  st.prefill_s = t_first;
  st.decode_s = total - t_first;
  return st;
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  std::string model_dir, prompt, tokenizer_path;
  long max_new_tokens = 64, top_k = 0;
  double temperature = 0.0, top_p = 1.0;
  bool interactive = false, ignore_eos = false, allow_unknown = false, no_cuda_graph = false;
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
  cli.flag("no-cuda-graph", &no_cuda_graph,
           "decode eagerly on CUDA (by default Mamba models replay one captured CUDA graph per step; same tokens)");
  cli.flag("allow-unknown-config", &allow_unknown, "ignore config.json keys ssmlab does not know");
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
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
    p = hf::load_pretrained(model_dir, hf::text_tool_load_options(device, dtype_name, tokenizer_path, allow_unknown));
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
  so.cuda_graph = !no_cuda_graph;
  if (!ignore_eos && p.config.eos_token_id >= 0) so.eos_token_ids = {p.config.eos_token_id};
  so.stop_strings = stops;

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
      if (!opts.quiet)
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
      if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF input (a Windows file or terminal)
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
  // Not run.write(), which prints the summary on stdout: here stdout holds only generated text,
  // and the summary goes to stderr (hidden by --quiet).
  if (!opts.log_path.empty()) ssmlab::append_jsonl(opts.log_path, run.make_record(m, summary, ok));
  if (!opts.quiet) std::cerr << "[generate] " << (ok ? "" : "FAILED: ") << summary << "\n";
  return ok ? 0 : 1;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
