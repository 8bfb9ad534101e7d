// tasks.h — the synthetic tasks of "Repeat After Me" (Jelassi et al. 2024, arXiv 2402.01032, §4):
// copy, prefix/suffix n-gram lookup, duplicate n-gram; packed training rows; a fixed eval set.
//
// Design: torch-free (plain int vectors) so the formats are testable without LibTorch and the
// generator is cheap to compile. One Rng per stream: the training stream draws fresh examples
// every step; the evaluation set is drawn once from its own seed, so every model and every
// eval point sees the same strings.
//
// Legend: L = string length (letters), n = n-gram size, a = answer length (letters, without EOS),
//         B = batch rows, T = context_len (tokens per packed row), V = 30 (vocabulary).
//
// Formats (tokens; s is L letters i.i.d. uniform):
//   copy             $ s | s .             prompt L+2     answer L (or --length-answer)
//   prefix_ngram     $ key | s | ans .     prompt L+n+3   answer = s after key's first occurrence
//   suffix_ngram     $ s | key ans .       prompt L+n+2   (no separator between key and answer)
//   duplicate_ngram  $ s' | s' .           s' = s with every occurrence of one listed n-gram
//                                          replaced by another listed n-gram (eval only)
// Key construction follows the original code, ambiguity included: candidate n-grams start at
// 0 .. L-n-2 (minus --length-answer), s is resampled at most 10 times until one candidate is
// unique among the candidates, then the key is drawn from ALL candidates but the last
// (indices 0 .. count-2), so it may occur more than once; the answer follows its FIRST occurrence.
#pragma once

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssmlab::synthetic_tasks {

// Token ids: letters a..z = 0..25, then the four symbols (as in the original tokenizer).
inline constexpr int kLetters = 26;
inline constexpr int kBos = 26;  // '$'
inline constexpr int kSep = 27;  // '|'
inline constexpr int kEos = 28;  // '.'
inline constexpr int kPad = 29;  // '*'
inline constexpr int kVocab = 30;

enum class Task { Copy, PrefixNgram, SuffixNgram, DuplicateNgram };
// "copy" | "prefix_ngram" | "suffix_ngram" | "duplicate_ngram"; throws std::invalid_argument.
Task parse_task(const std::string& name);
std::string task_name(Task t);
inline const std::vector<std::string>& task_names() {  // in the order of Task
  static const std::vector<std::string> v{"copy", "prefix_ngram", "suffix_ngram", "duplicate_ngram"};
  return v;
}

struct TaskSpec {
  Task task = Task::Copy;
  int n_gram = 0;         // n (prefix/suffix/duplicate need n >= 1)
  int length_answer = 0;  // > 0: only the first a letters of the answer
  int letters = kLetters; // alphabet size used for s (tests shrink it to force key failures)
};

// The key-construction failure of the original ("no unique n-gram after 10 resamples").
struct NoUniqueNgram : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Deterministic stream (mt19937_64); uniform(lo, hi) is inclusive on both ends.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
  std::mt19937_64& engine() { return gen_; }

 private:
  std::mt19937_64 gen_;
};

struct Example {
  std::vector<int> ids;  // prompt_len + answer_len + 1 tokens (the last is EOS)
  int length = 0;        // L
  int prompt_len = 0;    // tokens before the answer
  int answer_len = 0;    // a, letters only (the EOS follows)
};

// Shortest string length the task accepts (key construction needs >= 2 candidates).
int min_length_for(const TaskSpec& spec);
// Longest example (tokens) for strings of length <= max_len.
int max_example_tokens(const TaskSpec& spec, int max_len);
// Throws std::invalid_argument with a one-line reason on a bad range (min > max, too short for
// the n-gram, n missing for a lookup task, ...). context_len <= 0 skips the context check.
void validate(const TaskSpec& spec, int min_len, int max_len, int context_len);

// One example with string length L. Throws NoUniqueNgram (lookup/duplicate) after 10 resamples.
Example make_example(const TaskSpec& spec, int L, Rng& rng);

std::string to_text(const std::vector<int>& ids);   // "$abc|abc."
std::vector<int> from_text(const std::string& s);   // inverse; throws on other characters

// A training batch: B rows of exactly T tokens, each packed with consecutive examples
// (L uniform in [min_len, max_len]); the example that overflows is cut and fully masked, so no
// row holds PAD. mask[b*T+i] = 1 when token i is an answer letter or the EOS of a complete
// example (the loss is on predicting it from position i-1).
struct PackedBatch {
  int B = 0, T = 0;
  std::vector<std::int64_t> ids;  // (B, T)
  std::vector<float> mask;        // (B, T)
  int examples = 0;               // complete examples (the cut ones are not counted)
};
PackedBatch pack_batch(const TaskSpec& spec, int min_len, int max_len, int B, int T, Rng& rng);

// Evaluated lengths: min, min+step, ..., and always max (inclusive; the original's
// np.arange(min, max) dropped max, so min == max evaluated nothing).
std::vector<int> eval_lengths(int min_len, int max_len, int step);

// Fixed evaluation set: for each length, batches * batch_size examples drawn from `seed`.
struct EvalSet {
  std::vector<int> lengths;
  std::vector<std::vector<Example>> examples;  // [length index][example]
  int batches = 0, batch_size = 0;
};
EvalSet make_eval_set(const TaskSpec& spec, const std::vector<int>& lengths, int batches, int batch_size,
                      std::uint64_t seed);

}  // namespace ssmlab::synthetic_tasks
