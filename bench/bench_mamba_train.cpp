// bench_mamba_train: tokens/s of one MambaLM training step (forward + backward + AdamW) with the fused
// kernels (scan + causal conv, --impl auto) against the reference twins (--impl reference), side by side
// in one process so the ratio is measured under the same conditions.
//
//   bench_mamba_train --device cuda --d-model 768 --n-layer 24 --seq-len 2048 --batch 1 --bf16
//                     (the 130M configuration of state-spaces/mamba-130m; vocab 50280)
//   bench_mamba_train --device cpu --d-model 64 --n-layer 2 --seq-len 256 --vocab 256   (smoke size)
//   bench_mamba_train --model T_rope --n-head 12 --d-model 768 --n-layer 12 --seq-len 2048 --batch 8 --bf16 --impls auto
//                     (any registry model: the Transformers against the same step, same machine)
//
// Each implementation runs --warmup untimed steps, then --steps timed steps (or fewer if one step
// exceeds --max-seconds). Random tokens: the step's cost does not depend on the data.
// --profile-steps N (CUDA) then profiles N more steps with LibTorch's Kineto profiler: GPU kernel time per
// category (GEMM, scan, conv, elementwise, casts, ...), launches per step, and the GPU's idle share of the
// step (models/kernel_profile.h). The profile goes to the JSONL record under <impl>.kernel_profile.
#include "ssmlab/main_guard.h"
#include <cmath>
#include <stdexcept>
#include <algorithm>
#include <utility>
#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/registry.h"
#include "kernels/kernel_impl.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/timer.h"
#include "models/kernel_profile.h"
#include "models/torch_util.h"
#include "models/trainer.h"

namespace sm = ssmlab::models;
namespace sk = ssmlab::kernels;

namespace {

struct Measured {
  std::string impl;
  int steps = 0;
  double seconds_per_step = 0, tokens_per_s = 0, loss = 0;
  double forward_s = 0, backward_s = 0, optimizer_s = 0;  // per step: the mean over the extra synchronised steps
  bool fused_adamw = false;                                // the fused AdamW kernel ran (adamw_step)
  double peak_memory_mb = 0;  // CUDA: allocator peak over this implementation's run (model, AdamW state,
                              // activations; torch.cuda.max_memory_allocated's measure); CPU: the process's peak RSS
  sm::KernelProfile profile;  // --profile-steps > 0: where the GPU time of a step goes
};

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

Measured measure(const std::string& model_name, const std::string& impl_name, const sm::ModelConfig& base, const torch::Device& device, bool bf16,
                 int64_t batch, int64_t seq_len, int warmup, int steps, double max_seconds, uint64_t seed,
                 const ssmlab::CommonOptions& opts, bool allow_fused_adamw, int profile_steps) {
  torch::manual_seed(seed);
  sm::reset_peak_memory(device);
  auto mc = base;
  mc.kernel_impl = impl_name;
  auto model = sm::make_model(model_name, mc);  // through the registry, like every other binary
  model->to(device);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-4));
  auto tokens = torch::randint(0, mc.vocab_size, {batch, seq_len + 1}, torch::TensorOptions().dtype(torch::kLong)).to(device);
  auto inputs = tokens.narrow(1, 0, seq_len), targets = tokens.narrow(1, 1, seq_len);  // (B, L) each
  Measured m;
  m.impl = impl_name;
  // One step; with `split` the device is synchronised between phases so their times add up to the step.
  auto one_step = [&](bool split) {
    ssmlab::Stopwatch phase;
    opt.zero_grad();
    torch::Tensor loss;
    {
      sm::AutocastGuard ac(device, bf16);
      auto logits = model->forward(inputs);                                            // (B, L, V_pad)
      loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32),
                                                  targets.reshape({-1}));
    }
    if (split) { sync(device); m.forward_s += phase.seconds(); phase.reset(); }
    loss.backward();
    if (split) { sync(device); m.backward_s += phase.seconds(); phase.reset(); }
    m.fused_adamw = sm::adamw_step(opt, allow_fused_adamw);  // the trainer's step (fused AdamW kernel on CUDA, LibTorch >= 2)
    if (split) { sync(device); m.optimizer_s += phase.seconds(); }
    return loss.item<double>();
  };
  for (int i = 0; i < warmup; ++i) {
    one_step(false);
    ssmlab::progress(opts, "[" + impl_name + "] warm-up step " + std::to_string(i + 1) + "/" + std::to_string(warmup));
  }
  sync(device);
  ssmlab::Stopwatch sw;
  for (int i = 0; i < steps; ++i) {
    m.loss = one_step(false);
    ++m.steps;
    if (!std::isfinite(m.loss))  // a timing of a diverged model means nothing: a failed result instead
      throw std::runtime_error("[" + impl_name + "] non-finite loss (" + std::to_string(m.loss) + ") at timed step " +
                               std::to_string(i + 1));
    sync(device);
    ssmlab::progress(opts, "[" + impl_name + "] step " + std::to_string(i + 1) + "/" + std::to_string(steps) + " " +
                               std::to_string(sw.seconds() / m.steps) + " s/step");
    if (sw.seconds() > max_seconds) break;
  }
  m.seconds_per_step = sw.seconds() / m.steps;
  m.tokens_per_s = double(batch * seq_len) / m.seconds_per_step;
  m.peak_memory_mb = sm::peak_memory_mb(device);
  // Where the time goes: a few extra steps with a sync after each phase (not part of the timing above).
  const int split_steps = std::max(1, std::min(3, m.steps));
  for (int i = 0; i < split_steps; ++i) one_step(true);
  m.forward_s /= split_steps;
  m.backward_s /= split_steps;
  m.optimizer_s /= split_steps;
  if (profile_steps > 0) {
    ssmlab::progress(opts, "[" + impl_name + "] profiling " + std::to_string(profile_steps) + " steps");
    m.profile = sm::profile_kernels([&] { one_step(false); }, profile_steps, device);
    if (!m.profile.available) ssmlab::progress(opts, "[" + impl_name + "] no kernel profile: " + m.profile.why);
  }
  return m;
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  long d_model = 768, n_layer = 24, vocab = 50280, seq_len = 2048, batch = 1, warmup = 1, steps = 5, d_state = 16;
  long profile_steps = 0;
  double max_seconds = 120;
  bool bf16 = false, unfused_adamw = false;
  std::string device_flag = "auto";
  std::vector<std::string> impls = {"auto", "reference"};
  std::string model_name = "mamba";
  long n_head = 12;
  double rotary_pct = 0.25;
  ssmlab::Cli cli("bench_mamba_train",
                  "Tokens/s of a MambaLM training step, fused kernels vs the reference scan/conv, in one run",
                  "bench", "bench.jsonl");
  cli.add("model", &model_name, "registry model (mamba, mamba2, T_rope, T_nope, ...; the kernel impls matter for the SSMs)")
      .one_of(sm::model_names());
  cli.add("n-head", &n_head, "attention heads (Transformers)").at_least(1);
  cli.add("rotary-pct", &rotary_pct, "fraction of each head's dims rotated (T_rope)").greater_than(0.0).at_most(1.0);
  cli.add("d-model", &d_model, "model width D (768 = mamba-130m)").at_least(1);
  cli.add("n-layer", &n_layer, "number of Mamba blocks (24 = mamba-130m)").at_least(1);
  cli.add("d-state", &d_state, "SSM state size N (16 = mamba-130m; the synthetic paper Mamba uses 32)").at_least(1);
  cli.add("vocab", &vocab, "vocabulary size (50280 = GPT-NeoX tokenizer)").at_least(2);
  cli.add("seq-len", &seq_len, "tokens per row L").at_least(1);
  cli.add("batch", &batch, "rows per step").at_least(1);
  cli.add("warmup", &warmup, "untimed steps per implementation").at_least(0);
  cli.add("steps", &steps, "timed steps per implementation").at_least(1);
  cli.add("max-seconds", &max_seconds, "stop an implementation's timed steps after this many seconds").greater_than(0.0);
  cli.add("device", &device_flag, "auto | cpu | cuda[:i]");
  cli.flag("bf16", &bf16, "bf16 autocast on CUDA (weights and optimizer in fp32)");
  cli.flag("unfused-adamw", &unfused_adamw, "torch::optim::AdamW's per-parameter step instead of the fused CUDA kernel");
  cli.add("impls", &impls, "implementations to compare: auto (fused kernels) and/or reference");
  cli.add("profile-steps", &profile_steps, "CUDA: profile this many extra steps with Kineto (GPU time per kernel "
                                           "category, launches, idle share); 0 = off").at_least(0).at_most(100);
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
  sm::torch_set_threads(opts);
  torch::Device device(torch::kCPU);
  try {
    device = sm::resolve_device(device_flag);
    for (const auto& i : impls) sk::kernel_impl_from_string(i);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  sm::ModelConfig o;
  o.vocab_size = vocab;
  o.d_model = d_model;
  o.n_layer = n_layer;
  o.d_state = d_state;
  o.n_head = n_head;
  o.rotary_pct = rotary_pct;
  o.expand = 2;
  o.d_conv = 4;
  sm::check_model_fits(model_name, o, ssmlab::physical_memory_bytes());  // exit 2 naming the flag, before allocating
  ssmlab::check_fits_in_memory("--batch " + std::to_string(batch) + " / --seq-len " + std::to_string(seq_len),
                               "logits and activations of one step",
                               static_cast<double>(batch) * seq_len * (static_cast<double>(vocab) * 4 * 3 +
                                                                       static_cast<double>(d_model) * n_layer * 4 * 40));
  const int64_t params = sm::param_count(model_name, o);
  ssmlab::RunLog run(opts, "bench_mamba_train");
  run.add_param("param_count", params);
  ssmlab::progress(opts, model_name + " LM " + std::to_string(params) + " params, B=" + std::to_string(batch) +
                             " L=" + std::to_string(seq_len) + " on " + device.str() + (bf16 ? " (bf16 autocast)" : ""));
  std::vector<Measured> results;
  nlohmann::json metrics = {{"param_count", params}, {"device", device.str()}};
  try {
    for (const auto& impl : impls) {
      results.push_back(measure(model_name, impl, o, device, bf16, batch, seq_len, int(warmup), int(steps), max_seconds, opts.seed, opts, !unfused_adamw,
                                int(profile_steps)));
      const auto& m = results.back();
      metrics[m.impl] = {{"steps", m.steps},         {"seconds_per_step", m.seconds_per_step},
                         {"tokens_per_s", m.tokens_per_s}, {"loss", m.loss},
                         {"forward_s", m.forward_s},  {"backward_s", m.backward_s},
                         {"optimizer_s", m.optimizer_s}, {"fused_adamw", m.fused_adamw},
                         {"peak_memory_mb", m.peak_memory_mb}};
      if (profile_steps > 0) metrics[m.impl]["kernel_profile"] = m.profile.to_json();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    run.write(metrics, std::string("failed: ") + e.what(), false);
    return 1;
  }
  std::printf("%-10s %8s %12s %14s %10s %10s %10s %12s\n", "impl", "steps", "s/step", "tokens/s", "fwd s", "bwd s",
              "adamw s", "peak MiB");
  for (const auto& m : results)
    std::printf("%-10s %8d %12.4f %14.1f %10.4f %10.4f %10.4f %12.0f\n", m.impl.c_str(), m.steps, m.seconds_per_step,
                m.tokens_per_s, m.forward_s, m.backward_s, m.optimizer_s, m.peak_memory_mb);
  for (const auto& m : results) {  // the kernel profile: GPU time per category against the step's wall time
    if (!m.profile.available) continue;
    const double step_ms = 1000.0 * m.seconds_per_step;
    std::printf("\n[%s] GPU time per step (%d profiled steps; timed step %.1f ms; %.0f kernel launches, %.0f memcpy/memset):\n",
                m.impl.c_str(), m.profile.steps, step_ms, m.profile.kernels, m.profile.memory_ops);
    std::vector<std::pair<double, std::string>> cats;
    for (const auto& [c, ms] : m.profile.category_ms) cats.emplace_back(ms, c);
    std::sort(cats.rbegin(), cats.rend());
    for (const auto& [ms, c] : cats) std::printf("  %-24s %9.2f ms %6.1f %%\n", c.c_str(), ms, 100.0 * ms / step_ms);
    const double idle_ms = step_ms - m.profile.kernel_ms;  // < 0: the timed and the profiled steps differ
    std::printf("  %-24s %9.2f ms %6.1f %%%s\n", "GPU idle (step - kernels)", std::max(0.0, idle_ms),
                100.0 * std::max(0.0, idle_ms) / step_ms,
                idle_ms < 0 ? "  (kernel time exceeds the timed step: the profiled steps ran slower)" : "");
    for (const auto& [name, ms, n] : m.profile.top)
      std::printf("    %8.2f ms %6.0fx  %.110s\n", ms, n, name.c_str());
  }
  char head[96];
  std::snprintf(head, sizeof head, "%s LM %.1fM train step", model_name.c_str(), params / 1e6);
  std::string summary = head;
  if (results.size() == 2 && results[1].tokens_per_s > 0) {
    const double ratio = results[0].tokens_per_s / results[1].tokens_per_s;
    metrics["speedup"] = ratio;
    char buf[160];
    std::snprintf(buf, sizeof buf, ": %s %.0f tokens/s vs %s %.0f tokens/s (%.1fx)", results[0].impl.c_str(),
                  results[0].tokens_per_s, results[1].impl.c_str(), results[1].tokens_per_s, ratio);
    summary += buf;
    std::printf("train_step_speedup: %.2f\n", ratio);
  }
  run.write(metrics, summary, true);
  return 0;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
