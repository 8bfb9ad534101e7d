// tasks.cpp — task generators, packing and the fixed eval set (see tasks.h for the formats).
#include "synthetic_tasks/tasks.h"

#include <algorithm>
#include <map>

namespace ssmlab::synthetic_tasks {

Task parse_task(const std::string& name) {
  const auto& names = task_names();  // in the order of the enum
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<Task>(i);
  throw std::invalid_argument("unknown task '" + name + "' (copy|prefix_ngram|suffix_ngram|duplicate_ngram)");
}

std::string task_name(Task t) {
  const auto i = static_cast<size_t>(t);
  return i < task_names().size() ? task_names()[i] : "?";
}

namespace {
bool needs_key(Task t) { return t != Task::Copy; }

// Number of candidate n-grams (start positions 0 .. count-1) for a string of length L.
int candidate_count(const TaskSpec& spec, int L) {
  return L - spec.n_gram - std::max(spec.length_answer, 0) - 1;
}

std::vector<int> random_string(int L, int letters, Rng& rng) {
  std::vector<int> s(L);
  for (auto& c : s) c = rng.uniform(0, letters - 1);
  return s;
}

// Resamples s (at most 10 draws, as the original) until some candidate n-gram occurs exactly once
// among the candidates. Returns s; the candidates are s[i, i+n) for i < candidate_count.
std::vector<int> string_with_unique_ngram(const TaskSpec& spec, int L, Rng& rng) {
  const int n = spec.n_gram, count = candidate_count(spec, L);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto s = random_string(L, spec.letters, rng);
    std::map<std::vector<int>, int> freq;
    for (int i = 0; i < count; ++i) ++freq[std::vector<int>(s.begin() + i, s.begin() + i + n)];
    for (auto& [g, f] : freq)
      if (f == 1) return s;
  }
  throw NoUniqueNgram("no unique " + std::to_string(n) + "-gram among the " + std::to_string(std::max(count, 0)) +
                      " candidates of a string of length " + std::to_string(L) + " after 10 resamples (alphabet " +
                      std::to_string(spec.letters) + ")");
}

// First position p with s[p, p+n) == s[k, k+n) (p <= k).
int first_occurrence(const std::vector<int>& s, int k, int n) {
  for (int p = 0;; ++p)
    if (std::equal(s.begin() + p, s.begin() + p + n, s.begin() + k)) return p;
}
}  // namespace

int min_length_for(const TaskSpec& spec) {
  const int la = std::max(spec.length_answer, 0);
  // lookup/duplicate: at least 2 candidates (key index 0..count-2, or two distinct n-grams);
  // copy: the original asks min_len > length_answer.
  return needs_key(spec.task) ? spec.n_gram + la + 3 : la + 1;
}

int max_example_tokens(const TaskSpec& spec, int L) {
  const int n = spec.n_gram, la = spec.length_answer;
  auto cap = [&](int a) { return la > 0 ? std::min(a, la) : a; };
  switch (spec.task) {
    case Task::Copy: return L + 2 + cap(L) + 1;
    case Task::DuplicateNgram: return 2 * L + 3;
    case Task::PrefixNgram: return L + n + 3 + cap(L - n) + 1;  // longest answer: key at position 0
    case Task::SuffixNgram: return L + n + 2 + cap(L - n) + 1;
  }
  return 0;
}

void validate(const TaskSpec& spec, int min_len, int max_len, int context_len) {
  const std::string t = task_name(spec.task);
  if (spec.letters < 1 || spec.letters > kLetters) throw std::invalid_argument("alphabet size must be in 1..26");
  if (spec.length_answer < 0) throw std::invalid_argument("--length-answer must be >= 0");
  if (needs_key(spec.task) && spec.n_gram < 1)
    throw std::invalid_argument("task " + t + " needs --n-gram >= 1 (got " + std::to_string(spec.n_gram) + ")");
  if (min_len < 1) throw std::invalid_argument("minimum length must be >= 1 (got " + std::to_string(min_len) + ")");
  if (min_len > max_len)
    throw std::invalid_argument("minimum length " + std::to_string(min_len) + " > maximum length " +
                                std::to_string(max_len));
  if (min_len < min_length_for(spec))
    throw std::invalid_argument("task " + t + " with n-gram " + std::to_string(spec.n_gram) + " and length-answer " +
                                std::to_string(spec.length_answer) + " needs strings of length >= " +
                                std::to_string(min_length_for(spec)) + " (got minimum " + std::to_string(min_len) + ")");
  const int need = max_example_tokens(spec, max_len);
  if (context_len > 0 && context_len < need)
    throw std::invalid_argument("context of " + std::to_string(context_len) + " tokens is too short for " + t +
                                " strings of length " + std::to_string(max_len) + ": an example takes up to " +
                                std::to_string(need) + " tokens (copy: 2*max+3)");
}

Example make_example(const TaskSpec& spec, int L, Rng& rng) {
  if (L < min_length_for(spec))
    throw std::invalid_argument("length " + std::to_string(L) + " is below the task's minimum " +
                                std::to_string(min_length_for(spec)));
  const int n = spec.n_gram, la = spec.length_answer;
  auto cap = [&](std::vector<int> a) {
    if (la > 0 && static_cast<int>(a.size()) > la) a.resize(la);
    return a;
  };
  Example ex;
  ex.length = L;
  std::vector<int> s, answer, prompt;
  switch (spec.task) {
    case Task::Copy: {
      s = random_string(L, spec.letters, rng);
      answer = cap(s);
      prompt.push_back(kBos);
      prompt.insert(prompt.end(), s.begin(), s.end());
      prompt.push_back(kSep);
      break;
    }
    case Task::DuplicateNgram: {
      s = string_with_unique_ngram(spec, L, rng);
      const int count = candidate_count(spec, L);
      // two distinct candidate positions: the first gives the new n-gram, the second the old one
      int i = rng.uniform(0, count - 1), j = rng.uniform(0, count - 2);
      if (j >= i) ++j;
      std::vector<int> fresh(s.begin() + i, s.begin() + i + n), old(s.begin() + j, s.begin() + j + n);
      // replace every non-overlapping occurrence of `old`, scanning left to right (str.replace)
      for (int p = 0; p + n <= L;) {
        if (std::equal(old.begin(), old.end(), s.begin() + p)) {
          std::copy(fresh.begin(), fresh.end(), s.begin() + p);
          p += n;
        } else {
          ++p;
        }
      }
      answer = s;  // copied whole (length_answer only shapes the candidate list here)
      prompt.push_back(kBos);
      prompt.insert(prompt.end(), s.begin(), s.end());
      prompt.push_back(kSep);
      break;
    }
    case Task::PrefixNgram:
    case Task::SuffixNgram: {
      s = string_with_unique_ngram(spec, L, rng);
      const int count = candidate_count(spec, L);
      const int k = rng.uniform(0, count - 2);  // the original's randint(0, count-1): last excluded
      const int p = first_occurrence(s, k, n);  // ambiguous keys resolve to the first occurrence
      std::vector<int> key(s.begin() + k, s.begin() + k + n);
      answer = cap(std::vector<int>(s.begin() + p + n, s.end()));
      prompt.push_back(kBos);
      if (spec.task == Task::PrefixNgram) {
        prompt.insert(prompt.end(), key.begin(), key.end());
        prompt.push_back(kSep);
        prompt.insert(prompt.end(), s.begin(), s.end());
        prompt.push_back(kSep);
      } else {
        prompt.insert(prompt.end(), s.begin(), s.end());
        prompt.push_back(kSep);
        prompt.insert(prompt.end(), key.begin(), key.end());
      }
      break;
    }
  }
  ex.prompt_len = static_cast<int>(prompt.size());
  ex.answer_len = static_cast<int>(answer.size());
  ex.ids = std::move(prompt);
  ex.ids.insert(ex.ids.end(), answer.begin(), answer.end());
  ex.ids.push_back(kEos);
  return ex;
}

std::string to_text(const std::vector<int>& ids) {
  std::string out;
  for (int t : ids) {
    if (t >= 0 && t < kLetters) out += static_cast<char>('a' + t);
    else if (t == kBos) out += '$';
    else if (t == kSep) out += '|';
    else if (t == kEos) out += '.';
    else if (t == kPad) out += '*';
    else out += '?';
  }
  return out;
}

std::vector<int> from_text(const std::string& s) {
  std::vector<int> ids;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') ids.push_back(c - 'a');
    else if (c == '$') ids.push_back(kBos);
    else if (c == '|') ids.push_back(kSep);
    else if (c == '.') ids.push_back(kEos);
    else if (c == '*') ids.push_back(kPad);
    else throw std::invalid_argument(std::string("character '") + c + "' is not in the vocabulary");
  }
  return ids;
}

PackedBatch pack_batch(const TaskSpec& spec, int min_len, int max_len, int B, int T, Rng& rng) {
  PackedBatch pb;
  pb.B = B;
  pb.T = T;
  pb.ids.assign(static_cast<size_t>(B) * T, kPad);
  pb.mask.assign(static_cast<size_t>(B) * T, 0.f);
  for (int b = 0; b < B; ++b) {
    int pos = 0;
    while (pos < T) {
      Example ex = make_example(spec, rng.uniform(min_len, max_len), rng);
      const int len = static_cast<int>(ex.ids.size());
      const int take = std::min(len, T - pos);
      for (int i = 0; i < take; ++i) pb.ids[static_cast<size_t>(b) * T + pos + i] = ex.ids[i];
      if (take == len) {  // complete: the answer letters and the EOS carry the loss
        for (int i = ex.prompt_len; i < len; ++i) pb.mask[static_cast<size_t>(b) * T + pos + i] = 1.f;
        ++pb.examples;
      }
      pos += take;
    }
  }
  return pb;
}

std::vector<int> eval_lengths(int min_len, int max_len, int step) {
  if (step < 1) throw std::invalid_argument("eval length step must be >= 1");
  if (min_len > max_len) throw std::invalid_argument("minimum eval length > maximum eval length");
  std::vector<int> v;
  for (int L = min_len; L < max_len; L += step) v.push_back(L);
  v.push_back(max_len);
  return v;
}

EvalSet make_eval_set(const TaskSpec& spec, const std::vector<int>& lengths, int batches, int batch_size,
                      std::uint64_t seed) {
  EvalSet es;
  es.lengths = lengths;
  es.batches = batches;
  es.batch_size = batch_size;
  for (size_t li = 0; li < lengths.size(); ++li) {
    // one stream per length: adding lengths does not change the strings of the others
    Rng rng(seed * 1000003ULL + static_cast<std::uint64_t>(lengths[li]) * 7919ULL + 17);
    std::vector<Example> ex;
    for (int i = 0; i < batches * batch_size; ++i) ex.push_back(make_example(spec, lengths[li], rng));
    es.examples.push_back(std::move(ex));
  }
  return es;
}

}  // namespace ssmlab::synthetic_tasks
