// evaluation.cpp — tensors for packed batches; teacher-forced and greedy evaluation (see evaluation.h).
#include "synthetic_tasks/evaluation.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace ssmlab::synthetic_tasks {

TensorBatch to_tensors(const PackedBatch& pb) {
  auto ids = torch::from_blob(const_cast<std::int64_t*>(pb.ids.data()), {pb.B, pb.T}, torch::kInt64).clone();
  auto mask = torch::from_blob(const_cast<float*>(pb.mask.data()), {pb.B, pb.T}, torch::kFloat32).clone();
  using torch::indexing::Slice;
  return {ids.index({Slice(), Slice(0, pb.T - 1)}), ids.index({Slice(), Slice(1, pb.T)}),
          mask.index({Slice(), Slice(1, pb.T)})};
}

GreedyFn cached_greedy(models::LanguageModelImpl& model) {
  return [&model](const torch::Tensor& prompts, int steps) {
    auto p = prompts.to(torch::kCPU, torch::kLong).contiguous();                  // (B, P)
    const int64_t B = p.size(0), P = p.size(1);
    std::vector<std::vector<int64_t>> rows(B);
    for (int64_t b = 0; b < B; ++b) rows[b].assign(p.data_ptr<int64_t>() + b * P, p.data_ptr<int64_t>() + (b + 1) * P);
    models::GenerationOptions g;
    g.max_new_tokens = steps;
    const auto res = models::generate(model, rows, g);
    auto out = torch::empty({B, steps}, torch::kLong);
    for (int64_t b = 0; b < B; ++b)
      std::copy(res.tokens[b].begin(), res.tokens[b].end(), out[b].data_ptr<int64_t>());
    return out;                                                                    // (B, steps)
  };
}

GreedyFn uncached_greedy(ForwardFn forward) {
  return [forward = std::move(forward)](const torch::Tensor& prompts, int steps) {
    return models::greedy_uncached(forward, prompts, steps);
  };
}

namespace {
double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}
double std0_of(const std::vector<double>& v) {  // population std, as numpy's default
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return v.empty() ? 0.0 : std::sqrt(s / static_cast<double>(v.size()));
}

// Right-padded (B, Tmax) tensor of the given examples.
torch::Tensor padded(const std::vector<const Example*>& ex) {
  size_t T = 0;
  for (auto* e : ex) T = std::max(T, e->ids.size());
  auto t = torch::full({static_cast<int64_t>(ex.size()), static_cast<int64_t>(T)}, kPad, torch::kInt64);
  auto a = t.accessor<int64_t, 2>();
  for (size_t b = 0; b < ex.size(); ++b)
    for (size_t i = 0; i < ex[b]->ids.size(); ++i) a[b][i] = ex[b]->ids[i];
  return t;
}

struct TfResult {
  std::vector<bool> exact;
  std::vector<double> char_acc;
  double eos = 0, loss_sum = 0, loss_n = 0;
};

// Teacher-forced pass over a group of examples.
TfResult teacher_forced(const ForwardFn& forward, const std::vector<const Example*>& ex, const torch::Device& device) {
  TfResult r;
  auto ids = padded(ex);
  auto logits = forward(ids.to(device)).to(torch::kCPU).to(torch::kFloat32);  // (B, T, V')
  auto pred = logits.argmax(-1);                                                // (B, T)
  auto logp = torch::log_softmax(logits, -1);
  auto pa = pred.accessor<int64_t, 2>();
  auto la = logp.accessor<float, 3>();
  for (size_t b = 0; b < ex.size(); ++b) {
    const Example& e = *ex[b];
    int right = 0;
    // answer token j sits at prompt_len + j and is predicted at position prompt_len + j - 1
    for (int j = 0; j <= e.answer_len; ++j) {
      const int pos = e.prompt_len + j - 1, gold = e.ids[e.prompt_len + j];
      const bool ok = pa[b][pos] == gold;
      if (j < e.answer_len) right += ok;
      else r.eos += ok;
      r.loss_sum -= la[b][pos][gold];
      r.loss_n += 1;
    }
    r.exact.push_back(right == e.answer_len);
    r.char_acc.push_back(e.answer_len ? static_cast<double>(right) / e.answer_len : 1.0);
  }
  return r;
}
}  // namespace

LengthScore score_length(const ForwardFn& forward, const GreedyFn& greedy, const std::vector<Example>& examples,
                         int batch_size, int greedy_n, const torch::Device& device) {
  torch::NoGradGuard ng;
  LengthScore s;
  if (examples.empty()) return s;
  s.length = examples.front().length;
  std::vector<double> batch_string, batch_char;
  double eos = 0, loss_sum = 0, loss_n = 0;
  std::vector<bool> tf_exact;
  for (size_t start = 0; start < examples.size(); start += batch_size) {
    std::vector<const Example*> group;
    for (size_t i = start; i < std::min(examples.size(), start + batch_size); ++i) group.push_back(&examples[i]);
    auto r = teacher_forced(forward, group, device);
    double st = 0;
    for (bool x : r.exact) st += x;
    batch_string.push_back(st / static_cast<double>(group.size()));
    batch_char.push_back(mean_of(r.char_acc));
    eos += r.eos;
    loss_sum += r.loss_sum;
    loss_n += r.loss_n;
    tf_exact.insert(tf_exact.end(), r.exact.begin(), r.exact.end());
    s.n += static_cast<int>(group.size());
  }
  s.string_acc = mean_of(batch_string);
  s.string_acc_std = std0_of(batch_string);
  s.char_acc = mean_of(batch_char);
  s.char_acc_std = std0_of(batch_char);
  s.eos_acc = eos / static_cast<double>(s.n);
  s.loss = loss_sum / std::max(loss_n, 1.0);

  greedy_n = std::min<int>(greedy_n, static_cast<int>(examples.size()));
  if (greedy_n <= 0) return s;
  // group the sample by prompt length (constant for a given L in every task), decode each group
  std::map<int, std::vector<int>> by_prompt;
  for (int i = 0; i < greedy_n; ++i) by_prompt[examples[i].prompt_len].push_back(i);
  double g_exact = 0, g_char = 0, tf_sample = 0, agree = 0;
  for (auto& [P, idx] : by_prompt) {
    int steps = 0;
    auto prompts = torch::empty({static_cast<int64_t>(idx.size()), P}, torch::kInt64);
    auto pa = prompts.accessor<int64_t, 2>();
    for (size_t b = 0; b < idx.size(); ++b) {
      const Example& e = examples[idx[b]];
      steps = std::max(steps, e.answer_len + 1);
      for (int i = 0; i < P; ++i) pa[b][i] = e.ids[i];
    }
    auto gen = greedy(prompts.to(device), steps).to(torch::kCPU);  // (b, steps)
    auto ga = gen.accessor<int64_t, 2>();
    for (size_t b = 0; b < idx.size(); ++b) {
      const Example& e = examples[idx[b]];
      int right = 0;
      bool exact = true;
      for (int j = 0; j < e.answer_len; ++j) {
        const bool ok = ga[b][j] == e.ids[P + j];
        right += ok;
        exact = exact && ok;
      }
      g_exact += exact;
      g_char += e.answer_len ? static_cast<double>(right) / e.answer_len : 1.0;
      tf_sample += tf_exact[idx[b]];
      agree += exact == tf_exact[idx[b]];
    }
  }
  s.greedy_n = greedy_n;
  s.greedy_string_acc = g_exact / greedy_n;
  s.greedy_char_acc = g_char / greedy_n;
  s.tf_string_acc_sample = tf_sample / greedy_n;
  s.agreement = agree / greedy_n;
  return s;
}

}  // namespace ssmlab::synthetic_tasks
