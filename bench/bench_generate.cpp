// bench_generate: decode and prefill tokens/s of models::generate (the one generation loop) for a
// 130M-shaped Mamba (mamba-130m: d_model 768, 24 layers, vocab 50280) and GPT-NeoX (pythia-160m:
// d_model 768, 12 layers, 12 heads, vocab 50304) with random weights, at several batch sizes, in one
// run. Greedy; EOS disabled so every row makes --new-tokens tokens.
//
//   bench_generate --device cuda --batches 1 16                  (the GPU reference runs)
//   bench_generate --device cpu --quick                          (small shapes, seconds)
//
// Decode tokens/s = rows × (new tokens − 1) / decode seconds (the first new token comes from the
// prefill); prefill tokens/s = rows × prompt length / prefill seconds. One JSONL record per model.
// --cuda-graph both (the default): on CUDA each point runs the eager decode loop and the CUDA-graph one
// (GenerationOptions::cuda_graph; Mamba captures its step, GPT-NeoX stays eager) back to back.
#include "ssmlab/main_guard.h"
#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/generation.h"
#include "models/registry.h"
#include "models/torch_util.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/jsonl_log.h"

namespace sm = ssmlab::models;

static int ssmlab_main(int argc, char** argv) {
  std::vector<std::string> models = {"mamba", "T_rope"};
  std::vector<long> batches = {1, 16};
  long prompt_len = 32, new_tokens = 256, repeats = 2;
  std::string device_flag = "auto", dtype = "fp32", graph_mode = "both";
  bool quick = false;
  ssmlab::Cli cli("bench_generate", "Decode and prefill tokens/s of models::generate for 130M-shaped Mamba and GPT-NeoX",
                  "bench", "bench.jsonl");
  cli.add("models", &models, "registry names at the 130M shapes: mamba (mamba-130m), T_rope (GPT-NeoX pythia-160m); "
                             "any other registry name takes the Transformer shape");
  cli.add("batches", &batches, "batch sizes").nonempty().at_least(1L);
  cli.add("prompt-len", &prompt_len, "prompt tokens per row").at_least(1);
  cli.add("new-tokens", &new_tokens, "generated tokens per row").at_least(2);
  cli.add("repeats", &repeats, "timed runs per (model, batch); the fastest is reported").at_least(1);
  cli.add("device", &device_flag, "auto | cpu | cuda[:i]");
  cli.add("dtype", &dtype, "weights dtype").one_of({"fp32", "bf16"});
  cli.add("cuda-graph", &graph_mode, "decode loop on CUDA: off (eager), on (a CUDA graph where the model allows: "
                                     "Mamba, Mamba-2), both; ignored on the CPU (eager only)")
      .one_of({"off", "on", "both"});
  cli.flag("quick", &quick, "small shapes (d_model 128, 2 layers, 16 new tokens, overriding --new-tokens): a smoke run");
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
  sm::torch_set_threads(opts);
  torch::Device device(torch::kCPU);
  try {
    device = sm::resolve_device(device_flag);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  ssmlab::RunLog run(opts, "bench_generate");
  // GenerationOptions::cuda_graph per timed variant; on the CPU the eager loop is all there is
  const std::vector<bool> graph_modes = !device.is_cuda() || graph_mode == "off" ? std::vector<bool>{false}
                                        : graph_mode == "on"                     ? std::vector<bool>{true}
                                                                                 : std::vector<bool>{false, true};
  std::printf("%-8s %6s %6s %8s %12s %14s %14s\n", "model", "batch", "graph", "params", "prefill s", "prefill tok/s",
              "decode tok/s");
  bool ok = true;
  for (const auto& name : models) {
    sm::ModelConfig mc;
    const bool mamba = name == "mamba";
    mc.d_model = quick ? 128 : 768;
    mc.n_layer = quick ? 2 : (mamba ? 24 : 12);
    mc.vocab_size = mamba ? 50280 : 50304;
    mc.n_head = quick ? 4 : 12;
    mc.d_state = 16;
    mc.rotary_pct = 0.25;
    nlohmann::json metrics = {{"device", device.str()}, {"dtype", dtype}};
    try {
      torch::manual_seed(opts.seed);
      auto model = sm::make_model(name, mc);
      model->eval();
      if (dtype == "bf16") model->to(torch::kBFloat16);
      model->to(device);
      const int64_t params = sm::count_params(*model);
      metrics["param_count"] = params;
      for (long B : batches) {
        std::vector<std::vector<int64_t>> prompts(B);
        auto ids = torch::randint(0, mc.vocab_size, {B, prompt_len}, torch::kLong);
        for (long b = 0; b < B; ++b) prompts[b] = std::vector<int64_t>(ids[b].data_ptr<int64_t>(), ids[b].data_ptr<int64_t>() + prompt_len);
        for (bool graph : graph_modes) {
          sm::GenerationOptions g;
          g.max_new_tokens = quick ? 16 : new_tokens;
          g.cuda_graph = graph;
          sm::generate(*model, prompts, g);  // warm-up (allocator, kernels)
          double best_decode = 0, best_prefill = 0, prefill_s = 0;
          bool used_graph = false;
          for (long r = 0; r < repeats; ++r) {
            auto res = sm::generate(*model, prompts, g);
            used_graph = res.cuda_graph;
            const double dec = res.decode_seconds > 0 ? double(B) * res.decode_steps / res.decode_seconds : 0;
            const double pre = res.prefill_seconds > 0 ? double(res.prefill_tokens) / res.prefill_seconds : 0;
            if (dec > best_decode) best_decode = dec;
            if (pre > best_prefill) { best_prefill = pre; prefill_s = res.prefill_seconds; }
          }
          // keys: batch_<B> (eager) and batch_<B>_cuda_graph; "cuda_graph" says whether a graph replayed
          const std::string key = "batch_" + std::to_string(B) + (graph ? "_cuda_graph" : "");
          metrics[key] = {{"decode_tokens_per_s", best_decode}, {"prefill_tokens_per_s", best_prefill},
                          {"prefill_s", prefill_s}, {"prompt_len", prompt_len}, {"new_tokens", g.max_new_tokens},
                          {"cuda_graph", used_graph}};
          std::printf("%-8s %6ld %6s %7.1fM %12.4f %14.0f %14.1f\n", name.c_str(), B, used_graph ? "yes" : "no", params / 1e6,
                      prefill_s, best_prefill, best_decode);
          std::fflush(stdout);
        }
      }
      run.write(metrics, name + " generation on " + device.str(), true);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s: %s\n", name.c_str(), e.what());
      run.write(metrics, name + " failed: " + e.what(), false);
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
