// evaluation.h — LibTorch side of synthetic_tasks: packed batches as tensors, and the evaluation.
//
// Evaluation (per length, on the fixed eval set of tasks.h):
//   teacher-forced  one forward pass over the gold sequence; the prediction for answer token j is
//                   argmax of the logits one position earlier. String accuracy = every answer
//                   letter right (EOS excluded, as in the original); char accuracy = right letters
//                   / THIS example's answer length (the original divided by the batch's longest
//                   answer). Mean and std (ddof 0, as numpy) over the per-batch means.
//   greedy          the prompt alone, then answer_len + 1 argmax steps fed back (no gold tokens).
//                   Exact match of the generated answer letters must equal teacher-forced exact
//                   match on the same examples: if every teacher-forced argmax is right, greedy
//                   decoding sees exactly the gold prefix at every step, and conversely.
// Rows of one eval batch are right-padded with PAD to the batch's longest example: the models are
// causal, so padding after an example cannot change its predictions (the original padded every
// row to context_len).
#pragma once

#include <functional>
#include <vector>

#include <torch/torch.h>

#include "synthetic_tasks/tasks.h"
#include "models/generation.h"

namespace ssmlab::synthetic_tasks {

// tokens (B, T) int64 -> logits (B, T, V') with V' >= 30 (Mamba pads its vocabulary).
using ForwardFn = models::ForwardFn;
// Greedy continuation: prompts (B, P) -> the next `steps` argmax tokens (B, steps).
using GreedyFn = std::function<torch::Tensor(const torch::Tensor& prompts, int steps)>;
// models::generate on the model, with its inference cache (the one generation loop).
GreedyFn cached_greedy(models::LanguageModelImpl& model);
// models::greedy_uncached on a bare forward (no cache): for oracles in tests.
GreedyFn uncached_greedy(ForwardFn forward);

// inputs = ids[:, :-1], targets = ids[:, 1:], mask = mask[:, 1:]  (B, T-1) each.
struct TensorBatch {
  torch::Tensor inputs, targets, mask;
};
TensorBatch to_tensors(const PackedBatch& pb);

struct LengthScore {
  int length = 0;
  int n = 0;                                  // examples scored teacher-forced
  double string_acc = 0, string_acc_std = 0;  // mean/std over eval batches
  double char_acc = 0, char_acc_std = 0;
  double eos_acc = 0;                         // EOS predicted after the answer
  double loss = 0;                            // masked CE over answer + EOS (nats/token)
  // greedy decoding on the first `greedy_n` examples (0 = not run)
  int greedy_n = 0;
  double greedy_string_acc = 0, greedy_char_acc = 0;
  double tf_string_acc_sample = 0;            // teacher-forced string accuracy on the same sample
  double agreement = 1;                       // fraction of the sample where both exact matches agree
};

// Teacher-forced scores of `examples` (batches of batch_size, in order), plus greedy decoding (with
// `greedy`) of the first greedy_n examples. Runs under NoGradGuard; the caller sets eval mode.
LengthScore score_length(const ForwardFn& forward, const GreedyFn& greedy, const std::vector<Example>& examples,
                         int batch_size, int greedy_n, const torch::Device& device);

}  // namespace ssmlab::synthetic_tasks
