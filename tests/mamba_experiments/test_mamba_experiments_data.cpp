// test_mamba_experiments_data.cpp — mamba_experiments loaders: recall generator, word-level vocabulary and its
// tokenizer.json, document splitting, the BPE token cache, and (when SSMLAB_DATA_DIR is set) the
// real WikiText-2 and TinyStories files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "mamba_experiments/data.h"
#include "ssmlab/hf/documents.h"
#include "ssmlab/hf/tokenizer.h"
#include "tests/test_support.h"

using namespace ssmlab::mamba_experiments;
namespace fs = std::filesystem;

namespace {
void write(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}
std::string data_dir() {
  const char* e = std::getenv("SSMLAB_DATA_DIR");
  return e ? e : "";
}
}  // namespace

TEST(Recall, TargetIsInputShiftedByGap) {
  for (int64_t gap : {1, 5, 31}) {
    auto r = make_recall(20, 32, gap, 7, 3);
    ASSERT_EQ(r.inputs.size(), 20u * 32u);
    for (int64_t i = 0; i < r.n; ++i)
      for (int64_t t = 0; t < r.L; ++t) {
        const int64_t k = i * r.L + t;
        EXPECT_GE(r.inputs[k], 0);
        EXPECT_LT(r.inputs[k], 7);
        if (t < gap) {
          EXPECT_EQ(r.mask[k], 0);
        } else {
          EXPECT_EQ(r.mask[k], 1);
          EXPECT_EQ(r.targets[k], r.inputs[k - gap]);
        }
      }
  }
}

TEST(Recall, DeterministicPerSeedAndDifferentAcrossSeeds) {
  EXPECT_EQ(make_recall(4, 16, 3, 10, 1).inputs, make_recall(4, 16, 3, 10, 1).inputs);
  EXPECT_NE(make_recall(4, 16, 3, 10, 1).inputs, make_recall(4, 16, 3, 10, 2).inputs);
}

TEST(Recall, RejectsGapOutsideOneToL) {
  EXPECT_THROW(make_recall(4, 16, 16, 10, 1), std::invalid_argument);
  EXPECT_THROW(make_recall(4, 16, 0, 10, 1), std::invalid_argument);
}

TEST(WordLevel, SplitsOnUnicodeWhiteSpace) {
  // tab, no-break space U+00A0, ideographic space U+3000; an invalid byte stays inside its word
  auto w = split_words(" a\tb\xC2\xA0" "c\xE3\x80\x80" "d  e\xFF" "f ");
  EXPECT_EQ(w, (std::vector<std::string>{"a", "b", "c", "d", "e\xFF" "f"}));
}

TEST(WordLevel, VocabularyByFrequencyWithUnkAndEos) {
  const std::string train = "the cat sat\n\n the dog sat \n the cat\n";
  auto v = build_word_vocab(train, 2);
  ASSERT_EQ(v.size(), 4);  // <unk> <eos> + 2 most frequent
  EXPECT_EQ(v.words[0], "<unk>");
  EXPECT_EQ(v.words[1], "<eos>");
  EXPECT_EQ(v.words[2], "the");  // 3 times
  EXPECT_EQ(v.words[3], "cat");  // 2 times, before "sat" (2) by first appearance
  int64_t unk = 0;
  auto ids = encode_words(train, v, &unk);
  // blank lines add nothing; every non-empty line ends with <eos>
  EXPECT_EQ(ids, (std::vector<int32_t>{2, 3, 0, 1, 2, 0, 0, 1, 2, 3, 1}));
  EXPECT_EQ(unk, 3);
  EXPECT_THROW(build_word_vocab(train, 0), std::invalid_argument);
}

TEST(WordLevel, TokenizerJsonLoadsBackThroughHfTokenizer) {
  const std::string train = "alpha beta gamma\nbeta gamma\ngamma delta , .\n";
  auto v = build_word_vocab(train, 100);
  auto tk = ssmlab::hf::Tokenizer::from_json(wordlevel_tokenizer_json(v));
  EXPECT_EQ(tk.vocab_size(), v.size());
  const std::string text = "gamma beta zeta ,";
  std::vector<int64_t> expect;
  for (auto w : split_words(text)) expect.push_back(v.id(w));
  EXPECT_EQ(tk.encode(text), expect);
  EXPECT_EQ(tk.decode(expect), "gamma beta <unk> ,");
  EXPECT_EQ(tk.token_to_id("<eos>").value_or(-1), 1);
}

TEST(Documents, EndOfTextLinesOrBlankLineParagraphs) {
  int64_t seps = -1;
  auto d = split_documents("Once a cat.\n\nIt slept.\n<|endoftext|>\nA dog ran.\n<|endoftext|>\n", &seps);
  EXPECT_EQ(seps, 2);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0], "Once a cat.\n\nIt slept.");  // a blank line inside a story stays
  EXPECT_EQ(d[1], "A dog ran.");
  auto p = split_documents("mid-story end.\n\nNew story.\nsecond line.\n\n\nLast.", &seps);
  EXPECT_EQ(seps, 0);
  EXPECT_EQ(p, (std::vector<std::string>{"mid-story end.", "New story.\nsecond line.", "Last."}));
}

TEST(Bpe, TokenCacheIsWrittenThenHit) {
  auto dir = ssmlab::test::fresh_temp_dir("mx_bpe");
  write(dir / "train.txt", generated_stories(30, 1));
  write(dir / "valid.jsonl", "{\"text\": \"Lily saw a red ball.\"}\n{\"text\": \"Tom smiled.\"}\n");
  BpeSpec spec;
  spec.train_files = {(dir / "train.txt").string()};
  spec.valid_files = {(dir / "valid.jsonl").string()};
  spec.tokenizer = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/hf/tokenizer.json";
  spec.cache_dir = (dir / "cache").string();
  bool hit = true;
  Corpus a = load_bpe_corpus("text", spec, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(a.n_docs_train, 1);  // one story per line, no separator, no blank line: one paragraph
  EXPECT_EQ(a.n_docs_valid, 2);
  EXPECT_GE(a.eos_id, 0);
  EXPECT_EQ(a.valid.back(), a.eos_id);
  int cache_files = 0;
  for (auto& e : fs::directory_iterator(dir / "cache")) cache_files += e.path().extension() == ".tokens";
  EXPECT_EQ(cache_files, 1);
  Corpus b = load_bpe_corpus("text", spec, &hit);
  EXPECT_TRUE(hit);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.valid, b.valid);
  spec.train_files = {(dir / "missing.txt").string()};
  try {
    load_bpe_corpus("text", spec);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.txt"), std::string::npos) << e.what();
  }
  ssmlab::test::remove_tree(dir);
}

// The held-out rule of hf/documents.h on the training side: of 20 JSON-lines training documents the
// last 20 / 5 = 4 are evaluation-only and never tokenized; a validation file is read whole.
TEST(Bpe, JsonlTrainingFilesDropTheirEvaluationDocuments) {
  auto dir = ssmlab::test::fresh_temp_dir("mx_heldout");
  std::string lines;
  for (int i = 0; i < 20; ++i) lines += "{\"text\": \"document " + std::to_string(i) + "\"}\n";
  write(dir / "c4.jsonl", lines);
  BpeSpec spec;
  spec.train_files = {(dir / "c4.jsonl").string()};
  spec.valid_files = {(dir / "c4.jsonl").string()};
  spec.tokenizer = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/hf/tokenizer.json";
  Corpus c = load_bpe_corpus("text", spec);
  EXPECT_EQ(c.n_docs_train, 16);
  EXPECT_EQ(c.n_docs_valid, 20);
  EXPECT_EQ(ssmlab::hf::held_out_count(1000), 200);
  ssmlab::test::remove_tree(dir);
}

TEST(Generated, CorpusIsDeterministicAndSmall) {
  EXPECT_EQ(generated_stories(5, 1), generated_stories(5, 1));
  auto c = generated_word_corpus(1000);
  EXPECT_EQ(c.source, "generated");
  EXPECT_LT(c.vocab_size, 250);
  EXPECT_GT(c.train.size(), 100000u);
  EXPECT_EQ(c.n_unk_train, 0);
}

TEST(Windows, CountAndCap) {
  EXPECT_EQ(n_windows(101, 10, 0), 10);
  EXPECT_EQ(n_windows(100, 10, 0), 9);
  EXPECT_EQ(n_windows(101, 10, 3), 3);
  EXPECT_EQ(n_windows(5, 10, 0), 0);
}

TEST(WikiText2, MissingFilesAreNamed) {
  try {
    load_wikitext2("/nonexistent_ssmlab_dir", 100);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("/nonexistent_ssmlab_dir/wikitext-2-raw/wiki.train.raw"), std::string::npos) << m;
    EXPECT_NE(m.find("/nonexistent_ssmlab_dir/wiki.train.raw"), std::string::npos) << m;
  }
}

TEST(RealData, WikiText2VocabularyAndUnkRate) {
  if (data_dir().empty()) GTEST_SKIP() << "SSMLAB_DATA_DIR not set: real WikiText-2 not checked";
  Corpus c = load_wikitext2(data_dir(), 20000);
  EXPECT_EQ(c.source, "real");
  EXPECT_EQ(c.vocab_size, 20002);  // the raw train split has more than 20,000 distinct words
  EXPECT_GT(c.train.size(), 2000000u);  // ~2.05 M words + <eos>
  const double unk_train = static_cast<double>(c.n_unk_train) / c.train.size();
  const double unk_valid = static_cast<double>(c.n_unk_valid) / c.valid.size();
  std::cout << "WikiText-2 raw, 20000 words: train " << c.train.size() << " tokens (<unk> " << unk_train << "), valid "
            << c.valid.size() << " tokens (<unk> " << unk_valid << ")\n";
  EXPECT_GT(unk_train, 0.005);
  EXPECT_LT(unk_train, 0.06);
  EXPECT_LT(unk_valid, 0.08);
  // the saved tokenizer.json gives the loader's ids on the first 2000 valid lines
  auto tk = ssmlab::hf::Tokenizer::from_json(c.tokenizer_json);
  std::ifstream in(data_dir() + "/wikitext-2-raw/wiki.valid.raw");
  std::string line;
  size_t pos = 0;
  for (int i = 0; i < 2000 && std::getline(in, line); ++i) {
    auto words = split_words(line);
    if (words.empty()) continue;
    for (int64_t id : tk.encode(line)) ASSERT_EQ(id, c.valid[pos++]) << "line " << i;
    ASSERT_EQ(c.valid[pos++], 1) << "line " << i;  // <eos>
  }
}

TEST(RealData, TinyStoriesStoryCountAndGpt2Tokenizer) {
  if (data_dir().empty()) GTEST_SKIP() << "SSMLAB_DATA_DIR not set: real TinyStories not checked";
  std::string tr, va;
  resolve_tinystories(data_dir(), &tr, &va);
  EXPECT_NE(tr.find("TinyStories-train"), std::string::npos);
  int64_t seps = 0;
  std::ifstream in(tr, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto docs = split_documents(text, &seps);
  EXPECT_EQ(seps, 2316);                               // data/README.md
  EXPECT_EQ(static_cast<int64_t>(docs.size()), seps + 1);  // + the story cut at the end of the head
  auto vdocs = read_documents(va);                      // no separators: blank-line paragraphs
  EXPECT_GT(vdocs.size(), 1000u);
  // GPT-2 vocab.json + merges.txt converted to tokenizer.json encode as the pair itself does
  const std::string g = data_dir() + "/tokenizers/gpt2";
  auto a = ssmlab::hf::Tokenizer::from_file(g);
  auto b = ssmlab::hf::Tokenizer::from_json(tokenizer_json_for(g));
  EXPECT_EQ(a.vocab_size(), b.vocab_size());
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(a.encode(docs[i]), b.encode(docs[i])) << "story " << i;
  EXPECT_EQ(b.decode(b.encode(docs[0])), docs[0]);
}
