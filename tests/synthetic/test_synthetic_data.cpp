// test_synthetic_data.cpp — token ids, formats, masks, packing, key construction, length ranges.
#include <gtest/gtest.h>

#include <set>

#include "synthetic_tasks/tasks.h"

using namespace ssmlab::synthetic_tasks;

namespace {
TaskSpec spec_of(Task t, int n = 0, int la = 0) {
  TaskSpec s;
  s.task = t;
  s.n_gram = n;
  s.length_answer = la;
  return s;
}
std::vector<int> slice(const std::vector<int>& v, int a, int b) { return {v.begin() + a, v.begin() + b}; }
bool is_letters(const std::vector<int>& v) {
  for (int t : v)
    if (t < 0 || t >= kLetters) return false;
  return true;
}
}  // namespace

TEST(SyntheticData, TokenIdsMatchTheOriginalTokenizer) {
  EXPECT_EQ(kVocab, 30);
  EXPECT_EQ(from_text("a"), std::vector<int>{0});
  EXPECT_EQ(from_text("z"), std::vector<int>{25});
  EXPECT_EQ(from_text("$|.*"), (std::vector<int>{26, 27, 28, 29}));
  EXPECT_EQ(to_text(from_text("$abc|abc.")), "$abc|abc.");
  EXPECT_THROW(from_text("A"), std::invalid_argument);
  for (auto& n : task_names()) EXPECT_EQ(task_name(parse_task(n)), n);
  EXPECT_EQ(parse_task("copy"), Task::Copy);
  EXPECT_EQ(parse_task("prefix_ngram"), Task::PrefixNgram);
  EXPECT_EQ(parse_task("suffix_ngram"), Task::SuffixNgram);
  EXPECT_EQ(parse_task("duplicate_ngram"), Task::DuplicateNgram);
  EXPECT_THROW(parse_task("reverse"), std::invalid_argument);
}

TEST(SyntheticData, CopyFormat) {
  Rng rng(1);
  for (int L : {1, 5, 20, 37}) {
    auto ex = make_example(spec_of(Task::Copy), L, rng);
    ASSERT_EQ(static_cast<int>(ex.ids.size()), 2 * L + 3);
    EXPECT_EQ(ex.prompt_len, L + 2);
    EXPECT_EQ(ex.answer_len, L);
    EXPECT_EQ(ex.ids[0], kBos);
    EXPECT_EQ(ex.ids[L + 1], kSep);
    EXPECT_EQ(ex.ids.back(), kEos);
    EXPECT_TRUE(is_letters(slice(ex.ids, 1, L + 1)));
    EXPECT_EQ(slice(ex.ids, 1, L + 1), slice(ex.ids, L + 2, 2 * L + 2));
  }
  auto ex = make_example(spec_of(Task::Copy, 0, 3), 10, rng);  // length_answer: first 3 letters
  EXPECT_EQ(ex.answer_len, 3);
  EXPECT_EQ(static_cast<int>(ex.ids.size()), 10 + 2 + 3 + 1);
  EXPECT_EQ(slice(ex.ids, 1, 4), slice(ex.ids, 12, 15));
}

TEST(SyntheticData, PrefixAndSuffixFormats) {
  Rng rng(2);
  for (int n : {1, 2, 3}) {
    for (int L : {n + 3, 12, 30}) {
      for (int rep = 0; rep < 50; ++rep) {
        auto p = make_example(spec_of(Task::PrefixNgram, n), L, rng);
        // $ key | s | ans .
        ASSERT_EQ(p.prompt_len, L + n + 3);
        EXPECT_EQ(p.ids[0], kBos);
        EXPECT_EQ(p.ids[n + 1], kSep);
        EXPECT_EQ(p.ids[L + n + 2], kSep);
        EXPECT_EQ(p.ids.back(), kEos);
        auto key = slice(p.ids, 1, n + 1), s = slice(p.ids, n + 2, n + 2 + L);
        auto ans = slice(p.ids, p.prompt_len, p.prompt_len + p.answer_len);
        // the answer follows the key's FIRST occurrence in s
        int first = -1;
        for (int i = 0; i + n <= L && first < 0; ++i)
          if (slice(s, i, i + n) == key) first = i;
        ASSERT_GE(first, 0);
        EXPECT_LE(first, L - n - 3);  // key index 0 .. count-2 with count = L-n-1
        EXPECT_EQ(ans, slice(s, first + n, L));
        EXPECT_GE(p.answer_len, 3);

        auto q = make_example(spec_of(Task::SuffixNgram, n), L, rng);
        // $ s | key ans .  (no separator between key and answer)
        ASSERT_EQ(q.prompt_len, L + n + 2);
        EXPECT_EQ(q.ids[L + 1], kSep);
        auto s2 = slice(q.ids, 1, L + 1), key2 = slice(q.ids, L + 2, L + 2 + n);
        auto ans2 = slice(q.ids, q.prompt_len, q.prompt_len + q.answer_len);
        int first2 = -1;
        for (int i = 0; i + n <= L && first2 < 0; ++i)
          if (slice(s2, i, i + n) == key2) first2 = i;
        ASSERT_GE(first2, 0);
        EXPECT_EQ(ans2, slice(s2, first2 + n, L));
        EXPECT_EQ(static_cast<int>(q.ids.size()), q.prompt_len + q.answer_len + 1);
      }
    }
  }
}

TEST(SyntheticData, AmbiguousKeysOccurAsInTheOriginal) {
  // With a 2-letter alphabet and n = 2 most candidates repeat, so some keys are ambiguous:
  // the answer then follows an earlier occurrence than the one the key was drawn from.
  TaskSpec s = spec_of(Task::SuffixNgram, 2);
  s.letters = 2;
  Rng rng(3);
  int shorter = 0;
  for (int rep = 0; rep < 200; ++rep) {
    auto ex = make_example(s, 12, rng);
    auto str = slice(ex.ids, 1, 13), key = slice(ex.ids, 14, 16);
    int occ = 0;
    for (int i = 0; i + 2 <= 12; ++i) occ += slice(str, i, i + 2) == key;
    shorter += occ > 1;
  }
  EXPECT_GT(shorter, 0);
}

TEST(SyntheticData, DuplicateNgramReplacesEveryOccurrence) {
  Rng rng(4);
  TaskSpec s = spec_of(Task::DuplicateNgram, 2);
  for (int rep = 0; rep < 100; ++rep) {
    auto ex = make_example(s, 15, rng);
    ASSERT_EQ(static_cast<int>(ex.ids.size()), 33);
    EXPECT_EQ(ex.prompt_len, 17);
    EXPECT_EQ(slice(ex.ids, 1, 16), slice(ex.ids, 17, 32));
  }
  // with letters = 3 replacements are frequent: the string must contain a duplicated n-gram
  s.letters = 3;
  int dup = 0;
  for (int rep = 0; rep < 100; ++rep) {
    auto ex = make_example(s, 15, rng);
    std::set<std::vector<int>> seen;
    bool d = false;
    for (int i = 0; i + 2 <= 15; ++i) d |= !seen.insert(slice(ex.ids, 1 + i, 3 + i)).second;
    dup += d;
  }
  EXPECT_GT(dup, 90);
}

TEST(SyntheticData, NoUniqueNgramAfterResamplingIsAClearError) {
  TaskSpec s = spec_of(Task::PrefixNgram, 2);
  s.letters = 1;  // every n-gram is "aa": never unique
  Rng rng(5);
  try {
    make_example(s, 10, rng);
    FAIL() << "expected NoUniqueNgram";
  } catch (const NoUniqueNgram& e) {
    EXPECT_NE(std::string(e.what()).find("after 10 resamples"), std::string::npos) << e.what();
  }
  // too short for two candidates
  EXPECT_THROW(make_example(spec_of(Task::SuffixNgram, 3), 5, rng), std::invalid_argument);
  EXPECT_NO_THROW(make_example(spec_of(Task::SuffixNgram, 3), 6, rng));
}

TEST(SyntheticData, CopyMaskCoversExactlyAnswerAndEos) {
  Rng rng(6);
  TaskSpec s = spec_of(Task::Copy);
  for (int L : {5, 13, 20}) {
    // one example per row: T = 2L+3 exactly
    auto pb = pack_batch(s, L, L, 4, 2 * L + 3, rng);
    for (int b = 0; b < 4; ++b) {
      float m = 0;
      for (int i = 0; i < pb.T; ++i) {
        float v = pb.mask[b * pb.T + i];
        m += v;
        EXPECT_EQ(v, i >= L + 2 ? 1.f : 0.f);
      }
      EXPECT_EQ(m, L + 1);
    }
    EXPECT_EQ(pb.examples, 4);
  }
}

TEST(SyntheticData, PackingFillsRowsWithoutPadAndMasksTheCutExample) {
  Rng rng(7);
  for (Task t : {Task::Copy, Task::PrefixNgram, Task::SuffixNgram}) {
    TaskSpec s = spec_of(t, t == Task::Copy ? 0 : 3);
    auto pb = pack_batch(s, 6, 20, 8, 100, rng);
    ASSERT_EQ(pb.ids.size(), 800u);
    for (auto id : pb.ids) EXPECT_NE(id, kPad);
    for (int b = 0; b < 8; ++b) {
      // walk the row: every complete example has mask 0 on its prompt and 1 on answer + EOS
      int i = 0;
      const int64_t* row = &pb.ids[b * 100];
      const float* m = &pb.mask[b * 100];
      while (i < 100) {
        ASSERT_EQ(row[i], kBos);
        int j = i;
        while (j < 100 && row[j] != kEos) ++j;
        if (j == 100) {  // cut example: fully masked
          for (int k = i; k < 100; ++k) EXPECT_EQ(m[k], 0.f);
          break;
        }
        int seps = 0, last_sep = -1;
        for (int k = i; k <= j; ++k)
          if (row[k] == kSep) ++seps, last_sep = k;
        int answer_start = t == Task::SuffixNgram ? last_sep + 1 + 3 : last_sep + 1;
        for (int k = i; k <= j; ++k) EXPECT_EQ(m[k], k >= answer_start ? 1.f : 0.f) << "task " << task_name(t);
        i = j + 1;
      }
    }
  }
}

TEST(SyntheticData, FreshDataEveryStepAndAFixedEvalSet) {
  Rng rng(8);
  TaskSpec s = spec_of(Task::Copy);
  auto a = pack_batch(s, 5, 20, 2, 64, rng), b = pack_batch(s, 5, 20, 2, 64, rng);
  EXPECT_NE(a.ids, b.ids);
  auto e1 = make_eval_set(s, {10, 20}, 3, 8, 42), e2 = make_eval_set(s, {20}, 3, 8, 42);
  ASSERT_EQ(e1.examples[1].size(), 24u);
  for (size_t i = 0; i < 24; ++i) EXPECT_EQ(e1.examples[1][i].ids, e2.examples[0][i].ids);
  auto e3 = make_eval_set(s, {20}, 3, 8, 43);
  EXPECT_NE(e1.examples[1][0].ids, e3.examples[0][0].ids);
}

TEST(SyntheticData, LengthRangesAreInclusive) {
  EXPECT_EQ(eval_lengths(20, 20, 1), std::vector<int>{20});  // the original evaluated nothing here
  EXPECT_EQ(eval_lengths(5, 9, 1), (std::vector<int>{5, 6, 7, 8, 9}));
  EXPECT_EQ(eval_lengths(10, 35, 10), (std::vector<int>{10, 20, 30, 35}));
  Rng rng(9);
  std::set<int> seen;
  TaskSpec s = spec_of(Task::Copy);
  for (int rep = 0; rep < 200; ++rep) {
    auto pb = pack_batch(s, 5, 7, 1, 17, rng);  // 17 = 2*7+3: the first example is complete
    int L = 0;
    while (pb.ids[1 + L] != kSep) ++L;
    seen.insert(L);
  }
  EXPECT_EQ(seen, (std::set<int>{5, 6, 7}));
}

TEST(SyntheticData, ValidationMessages) {
  TaskSpec c = spec_of(Task::Copy);
  EXPECT_NO_THROW(validate(c, 5, 20, 43));
  EXPECT_THROW(validate(c, 5, 20, 42), std::invalid_argument);  // needs 2*20+3
  EXPECT_THROW(validate(c, 21, 20, 100), std::invalid_argument);
  EXPECT_THROW(validate(c, 0, 20, 100), std::invalid_argument);
  EXPECT_THROW(validate(spec_of(Task::PrefixNgram, 0), 10, 20, 100), std::invalid_argument);
  EXPECT_THROW(validate(spec_of(Task::PrefixNgram, 3), 5, 20, 100), std::invalid_argument);
  EXPECT_NO_THROW(validate(spec_of(Task::PrefixNgram, 3), 6, 20, 44));
  EXPECT_THROW(validate(spec_of(Task::PrefixNgram, 3), 6, 20, 43), std::invalid_argument);
  try {
    validate(c, 5, 20, 30);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("43"), std::string::npos) << e.what();
  }
}
