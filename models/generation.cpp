// generation.cpp — batched cached generation and its uncached reference (generation.h).
#include "models/generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <memory>
#include <stdexcept>

#ifdef SSMLAB_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace ssmlab::models {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
void sync(const torch::Device& d) {
#if TORCH_VERSION_MAJOR >= 2
  if (d.is_cuda()) torch::cuda::synchronize(d.index());
#else
  (void)d;
#endif
}

#ifdef SSMLAB_WITH_CUDA
// One decode step captured in a CUDA graph and replayed for every later step (GenerationOptions::
// cuda_graph). The graph reads the token ids from input_ and leaves the logits in logits_ (both at
// fixed addresses); the model's cache tensors are updated in place by the replayed kernels. The host
// bookkeeping of a step (InferenceCache::seqlen_offset) runs once while capturing, and replay() repeats it.
class DecodeGraph {
 public:
  explicit DecodeGraph(const torch::Device& dev) : stream_(c10::cuda::getStreamFromPool(false, dev.index())) {}
  // Decode step number `steps_` of this generation: eager (warm-up), then captured, then replayed. (B, V) logits.
  torch::Tensor step(LanguageModelImpl& model, const torch::Tensor& feed, InferenceCache& cache) {
    const int64_t k = steps_++;
    return k == 0 ? warm_up(model, feed, cache) : k == 1 ? capture_and_run(model, feed, cache) : replay(feed, cache);
  }

 private:
  // An eager step on the capture stream: creates that stream's cuBLAS handle and workspace before capture.
  torch::Tensor warm_up(LanguageModelImpl& model, const torch::Tensor& feed, InferenceCache& cache) {
    c10::cuda::device_synchronize();
    torch::Tensor logits;
    {
      c10::cuda::CUDAStreamGuard on_side(stream_);
      logits = model.forward(feed, &cache).select(1, 0);  // (B, V)
    }
    stream_.synchronize();
    return logits;
  }
  // Records one step (recording runs no kernel), then runs it by one replay.
  torch::Tensor capture_and_run(LanguageModelImpl& model, const torch::Tensor& feed, InferenceCache& cache) {
    input_ = feed.clone();  // (B, 1) int64
    c10::cuda::device_synchronize();
    {
      c10::cuda::CUDAStreamGuard on_side(stream_);
      graph_.capture_begin();
      try {
        logits_ = model.forward(input_, &cache).select(1, 0);  // (B, V), in the graph's memory pool
      } catch (const std::exception& e) {  // end the capture, or every later CUDA call on the stream fails
        try { graph_.capture_end(); } catch (...) {}
        throw std::runtime_error(std::string("generate: capturing the decode step in a CUDA graph failed (") + e.what() +
                                 "); GenerationOptions::cuda_graph = false (generate --no-cuda-graph) decodes eagerly");
      }
      graph_.capture_end();
    }
    graph_.replay();
    return logits_;
  }
  torch::Tensor replay(const torch::Tensor& feed, InferenceCache& cache) {
    cache.check_room(1, "generate (CUDA graph)");
    input_.copy_(feed);
    graph_.replay();
    cache.seqlen_offset += 1;
    return logits_;
  }

  c10::cuda::CUDAStream stream_;
  int64_t steps_ = 0;
  at::cuda::CUDAGraph graph_;
  torch::Tensor input_, logits_;  // destroyed before the graph that owns logits_' memory
};
#endif
}  // namespace

int64_t sample_next(const torch::Tensor& logits_in, const GenerationOptions& opt, std::mt19937_64& rng) {
  torch::Tensor logits = logits_in.reshape({-1}).to(torch::kCPU, torch::kFloat64);
  const int64_t V = logits.size(0);
  const double* l = logits.data_ptr<double>();
  for (int64_t i = 0; i < V; ++i)
    if (!std::isfinite(l[i]))
      throw std::runtime_error("non-finite logit (" + std::to_string(l[i]) + ") at vocabulary id " + std::to_string(i) +
                               ": the model diverged or its weights are broken");
  if (opt.temperature <= 0.0) return std::max_element(l, l + V) - l;  // first maximum, as argmax
  std::vector<int64_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l[a] > l[b]; });
  int64_t keep = V;
  if (opt.top_k > 0) keep = std::min<int64_t>(keep, opt.top_k);
  std::vector<double> p(keep);
  const double mx = l[order[0]] / opt.temperature;
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) sum += (p[i] = std::exp(l[order[i]] / opt.temperature - mx));
  for (auto& x : p) x /= sum;
  if (opt.top_p < 1.0) {  // smallest prefix (by probability) whose mass reaches top_p
    double cum = 0;
    int64_t k = 0;
    while (k < keep) {
      cum += p[k++];
      if (cum >= opt.top_p) break;
    }
    keep = std::max<int64_t>(k, 1);
  }
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) total += p[i];
  const double u = std::uniform_real_distribution<double>(0.0, total)(rng);
  double acc = 0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (u < acc) return order[i];
  }
  return order[keep - 1];
}

GenerationResult generate(LanguageModelImpl& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationOptions& opt) {
  if (prompts.empty()) throw std::invalid_argument("generate: no prompts");
  if (opt.max_new_tokens < 0) throw std::invalid_argument("generate: max_new_tokens must be >= 0");
  if (!opt.stop_strings.empty() && !opt.decode) throw std::invalid_argument("generate: stop strings need a decode function");
  const int64_t B = static_cast<int64_t>(prompts.size());
  int64_t Lp = 0;
  std::vector<int64_t> lengths;
  for (const auto& p : prompts) {
    if (p.empty()) throw std::invalid_argument("generate: a prompt has no tokens");
    lengths.push_back(static_cast<int64_t>(p.size()));
    Lp = std::max(Lp, lengths.back());
  }
  const int64_t limit = model.max_positions();
  if (limit > 0 && Lp > limit)
    throw std::invalid_argument("generate: a prompt of " + std::to_string(Lp) + " tokens exceeds the model's " +
                                std::to_string(limit) + " positions");
  int64_t budget = opt.max_new_tokens;
  bool position_limited = false;
  if (limit > 0 && Lp + budget - 1 > limit) {  // the last new token needs no slot of its own
    budget = limit - Lp + 1;
    position_limited = true;
  }
  torch::NoGradGuard ng;
  const bool was_training = model.is_training();
  model.eval();
  const torch::Device dev = model.device();

  GenerationResult res;
  res.tokens.assign(B, {});
  res.finish_reason.assign(B, "");
  std::vector<std::mt19937_64> rng;
  for (int64_t b = 0; b < B; ++b) rng.emplace_back(opt.seed + static_cast<uint64_t>(b));
  std::vector<bool> done(B, false);
  auto finished = [&] { return std::all_of(done.begin(), done.end(), [](bool d) { return d; }); };

  // Left-padded prompt block (pad id: the row's first token; masked anyway).
  auto block = torch::empty({B, Lp}, torch::kInt64);
  auto a = block.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Lp; ++t) a[b][t] = t < Lp - lengths[b] ? prompts[b][0] : prompts[b][t - (Lp - lengths[b])];
  InferenceCache cache = model.new_cache(B, Lp + std::max<int64_t>(budget, 1));
  cache.set_left_padding(lengths, Lp);

  auto t0 = std::chrono::steady_clock::now();
  torch::Tensor logits = model.forward(block.to(dev), &cache).select(1, Lp - 1);  // (B, V)
  sync(dev);
  res.prefill_seconds = seconds_since(t0);
  res.prefill_tokens = B * Lp;
  const bool greedy = opt.temperature <= 0.0;
#ifdef SSMLAB_WITH_CUDA
  std::unique_ptr<DecodeGraph> graph;  // declared after the cache: destroyed first
  if (opt.cuda_graph && dev.is_cuda() && model.decode_step_graph_safe() && budget >= 5)  // >= 4 decode steps
    graph = std::make_unique<DecodeGraph>(dev);
#endif
  t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> next(B, 0);
  for (int64_t step = 0; step < budget && !finished(); ++step) {
    if (greedy) {  // ids and per-row finiteness in one device-to-host copy (one sync per step)
      auto host = torch::cat({logits.argmax(-1), torch::isfinite(logits).all(-1).to(torch::kLong)}).to(torch::kCPU);
      auto ha = host.accessor<int64_t, 1>();
      for (int64_t b = 0; b < B; ++b) {
        if (ha[B + b] == 0)
          throw std::runtime_error("generate: non-finite logits at new token " + std::to_string(step) + " of row " +
                                   std::to_string(b) + ": the model diverged or its weights are broken");
        next[b] = ha[b];
      }
    } else {
      auto lc = logits.to(torch::kCPU);
      for (int64_t b = 0; b < B; ++b)
        if (!done[b]) next[b] = sample_next(lc[b], opt, rng[b]);
    }
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      res.tokens[b].push_back(next[b]);
      if (opt.on_token) opt.on_token(b, next[b]);
      if (std::find(opt.eos_token_ids.begin(), opt.eos_token_ids.end(), next[b]) != opt.eos_token_ids.end()) {
        done[b] = true;
        res.finish_reason[b] = "eos";
      } else if (!opt.stop_strings.empty()) {
        const std::string text = opt.decode(res.tokens[b]);
        for (const auto& s : opt.stop_strings)
          if (!s.empty() && text.find(s) != std::string::npos) {
            done[b] = true;
            res.finish_reason[b] = "stop_string";
            break;
          }
      }
    }
    if (step + 1 == budget || finished()) break;
    auto feed = torch::tensor(next, torch::kInt64).view({B, 1}).to(dev);  // finished rows keep running (ignored)
#ifdef SSMLAB_WITH_CUDA
    if (graph) {
      logits = graph->step(model, feed, cache);
      res.cuda_graph = true;
    } else
#endif
      logits = model.forward(feed, &cache).select(1, 0);                  // (B, V)
    ++res.decode_steps;
  }
  sync(dev);
  res.decode_seconds = seconds_since(t0);
  for (int64_t b = 0; b < B; ++b)
    if (!done[b]) res.finish_reason[b] = position_limited && budget < opt.max_new_tokens ? "position_limit" : "max_new_tokens";
  if (was_training) model.train();
  return res;
}

torch::Tensor greedy_uncached(const ForwardFn& forward, const torch::Tensor& prompts, int64_t steps) {
  torch::NoGradGuard ng;
  torch::Tensor cur = prompts;
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < steps; ++s) {
    auto logits = forward(cur);                                                     // (B, P+s, V)
    auto next = logits.select(1, logits.size(1) - 1).argmax(-1, /*keepdim=*/true);  // (B, 1)
    out.push_back(next);
    cur = torch::cat({cur, next.to(cur.device(), cur.scalar_type())}, 1);
  }
  return out.empty() ? torch::empty({prompts.size(0), 0}, torch::kLong) : torch::cat(out, 1);  // (B, steps)
}

std::vector<std::vector<int64_t>> greedy_uncached(LanguageModelImpl& model, const std::vector<std::vector<int64_t>>& prompts,
                                                  int64_t new_tokens) {
  const bool was_training = model.is_training();
  model.eval();
  const ForwardFn forward = [&model](const torch::Tensor& ids) { return model.forward(ids); };
  std::vector<std::vector<int64_t>> out;
  for (const auto& prompt : prompts) {  // row by row: no padding in the reference
    auto gen = greedy_uncached(forward, torch::tensor(prompt, torch::kInt64).unsqueeze(0).to(model.device()), new_tokens)
                   .to(torch::kCPU)
                   .contiguous();
    out.emplace_back(gen.data_ptr<int64_t>(), gen.data_ptr<int64_t>() + gen.numel());
  }
  if (was_training) model.train();
  return out;
}

}  // namespace ssmlab::models
