// test_pretrained_tasks.cpp — the torch-free task library of pretrained_eval: prompt builders and
// cut rules against hand-written strings, samplers (C4 windows, census names, phone books, SQuAD
// buckets), the SQuAD normalisers and F1 on hand-computed cases (both rules), the C4 reader on
// .json / .jsonl / .json.gz with its held-out rule, and bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <algorithm>
#include <cstdlib>

#ifdef SSMLAB_TEST_HAVE_ZLIB
#include <zlib.h>
#endif

#include "pretrained/squad.h"
#include "ssmlab/hf/documents.h"
#include "ssmlab/hf/safetensors.h"
#include "ssmlab/hf/tokenizer.h"
#include "pretrained/tasks.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
namespace pt = ssmlab::pretrained;
namespace hf = ssmlab::hf;

namespace {
const std::string kTok = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/hf/tokenizer.json";

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override { dir = ssmlab::test::fresh_temp_dir("pretrained_tasks"); }
  void TearDown() override { ssmlab::test::remove_tree(dir); }
  std::string write(const std::string& name, const std::string& text) const {
    fs::create_directories((dir / name).parent_path());
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  }
  fs::path dir;
};
using Documents = TempDir;
using Names = TempDir;
using Squad = TempDir;
}  // namespace

// ---- c4_copy -----------------------------------------------------------------------------------
TEST(C4Copy, PromptIsTextTwiceThenTheFirstWord) {
  const auto ex = pt::c4_copy_example("The cat sat on the mat.");
  EXPECT_EQ(ex.prompt, "The cat sat on the mat.\n\nThe cat sat on the mat.\n\nThe");
  ASSERT_EQ(ex.answers.size(), 1u);
  EXPECT_EQ(ex.answers[0], "cat sat on the mat.");
  const auto one = pt::c4_copy_example("Hello");  // one word: nothing left to write
  EXPECT_EQ(one.prompt, "Hello\n\nHello\n\nHello");
  EXPECT_EQ(one.answers[0], "");
}

TEST(C4Copy, CutAtTheFirstBlankLineFlattenAndStrip) {
  EXPECT_EQ(pt::c4_copy_cut(" cat sat on the mat.\n\nThe cat"), "cat sat on the mat.");
  EXPECT_EQ(pt::c4_copy_cut(" cat sat\non the mat. "), "cat sat on the mat.");
  EXPECT_EQ(pt::c4_copy_cut("\n\n cat"), "");
  EXPECT_EQ(pt::c4_copy_cut(" cat<|endoftext|>"), "cat<|endoftext|>");  // only the blank line cuts, as the original
}

TEST(C4Copy, BudgetIsHalfThePromptPlus50) {
  EXPECT_EQ(pt::c4_copy_budget(10), 55);   // max_length = int(1.5 * 10) + 50 = 65
  EXPECT_EQ(pt::c4_copy_budget(11), 55);   // int(16.5) + 50 - 11
  EXPECT_EQ(pt::c4_copy_budget(100), 100);
}

TEST(C4Copy, WindowOfExactlyLTokensFromTheDocuments) {
  const auto tok = hf::Tokenizer::from_file(kTok);
  const std::string doc = "one two three four five six seven eight nine ten eleven twelve\nthirteen fourteen";
  std::string flat = doc;
  std::replace(flat.begin(), flat.end(), '\n', ' ');
  for (uint64_t seed = 0; seed < 20; ++seed) {
    pt::Rng rng(seed);
    const std::string t = pt::c4_copy_text({doc}, tok, 12, false, rng);
    EXPECT_NE(flat.find(t), std::string::npos) << t;  // a piece of the (flattened) document
    EXPECT_EQ(t.find('\n'), std::string::npos);
    EXPECT_EQ(t, pt::strip(t));
  }
  pt::Rng a(3), b(3), c(3);
  EXPECT_EQ(pt::c4_copy_text({doc}, tok, 12, true, a), pt::c4_copy_text({doc}, tok, 12, true, b));  // seeded
  const auto n = static_cast<int64_t>(tok.encode(doc).size());
  EXPECT_THROW(pt::c4_copy_text({doc}, tok, n, false, c), pt::DataError);  // needs more than L tokens
  EXPECT_THROW(pt::c4_copy_text({}, tok, 4, false, c), pt::DataError);
}

// ---- phone_book --------------------------------------------------------------------------------
TEST(PhoneBook, NumbersHaveTenDigitsStartingWith6To9) {
  pt::Rng rng(1);
  std::set<char> firsts;
  for (int i = 0; i < 2000; ++i) {
    const auto n = pt::phone_number(rng);
    ASSERT_EQ(n.size(), 10u);
    for (char ch : n) ASSERT_TRUE(ch >= '0' && ch <= '9') << n;
    ASSERT_TRUE(n[0] >= '6' && n[0] <= '9') << n;
    firsts.insert(n[0]);
  }
  EXPECT_EQ(firsts.size(), 4u);
}

TEST(PhoneBook, PromptHasTwoExamplesAfterABlankLineThenTheQuery) {
  const std::vector<pt::PhoneEntry> book = {
      {"Ann Lee", "6000000001"}, {"Bob Ray", "7000000002"}, {"Cy Fox", "8000000003"}, {"Di Orr", "9000000004"}};
  const auto ex = pt::phone_book_example(book, 2, 0, 3);
  EXPECT_EQ(ex.prompt,
            "Ann Lee: 6000000001\nBob Ray: 7000000002\nCy Fox: 8000000003\nDi Orr: 9000000004\n\n"
            "Cy Fox: 8000000003\nAnn Lee: 6000000001\n\nDi Orr:");
  ASSERT_EQ(ex.answers.size(), 1u);
  EXPECT_EQ(ex.answers[0], "9000000004");
  EXPECT_EQ(pt::phone_book_cut(" 9000000004\nAnn Lee: 6"), "9000000004");
  EXPECT_EQ(pt::phone_book_cut("\n 9000000004"), "");  // the first line only
}

TEST_F(Names, CensusListsAreCapitalisedWeightedAndGiveDistinctNames) {
  write("names/dist.male.first", "JAMES          3.318  3.318      1\nJOHN           3.271  6.589      2\n");
  write("names/dist.all.last", "SMITH          1.006  1.006      1\nJOHNSON        0.810  1.816      2\nLEE 0.5 2.3 3\n");
  const auto names = pt::load_census_names((dir / "names").string());
  ASSERT_EQ(names.first.size(), 1u);
  EXPECT_EQ(names.first[0].names, (std::vector<std::string>{"James", "John"}));
  EXPECT_DOUBLE_EQ(names.last.cumulative.back(), 1.006 + 0.810 + 0.5);
  pt::Rng rng(7);
  for (int rep = 0; rep < 20; ++rep) {
    const auto book = pt::make_phone_book(names, 6, rng);  // 2 x 3 = every combination once
    std::set<std::string> seen;
    for (const auto& e : book) {
      EXPECT_TRUE(seen.insert(e.name).second) << e.name;
      EXPECT_EQ(e.number.size(), 10u);
    }
    const auto ex = pt::phone_book_sample(book, rng);
    EXPECT_EQ(ex.prompt.back(), ':');
  }
  EXPECT_THROW(pt::make_phone_book(names, 7, rng), pt::DataError);  // only 6 distinct names exist
}

TEST_F(Names, EmptyOrMissingListsAreClearErrors) {
  const auto empty = write("empty.txt", "\n  \n");
  try {
    pt::read_name_list(empty);
    FAIL() << "no throw";
  } catch (const pt::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("holds no names"), std::string::npos) << e.what();
  }
  try {
    pt::load_census_names((dir / "nowhere").string());
    FAIL() << "no throw";
  } catch (const pt::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("dist.all.last"), std::string::npos) << e.what();
  }
  const auto plain = write("plain.txt", "alice\nBOB extra words\n");  // one name per line: uniform weights
  const auto l = pt::read_name_list(plain);
  EXPECT_EQ(l.names, (std::vector<std::string>{"Alice", "Bob"}));
  EXPECT_DOUBLE_EQ(l.cumulative.back(), 2.0);
}

// ---- squad: prompt, cut, normalisation, scores ---------------------------------------------------
TEST(SquadPrompt, OneShotWithTheFirstQuestion) {
  EXPECT_EQ(pt::squad_prompt("Paris is in France.", "Where is Paris?", "France", "What is in France?"),
            "Paris is in France.\n\nQuestion: Where is Paris?\nAnswer: France\n\nQuestion: What is in France?\nAnswer: ");
  EXPECT_EQ(pt::squad_cut("Paris\n\nQuestion: x"), "Paris");
  EXPECT_EQ(pt::squad_cut(" Paris<|endoftext|>junk"), "Paris");
  EXPECT_EQ(pt::squad_cut("  the city\nof Paris \n\n"), "the city\nof Paris");
}

TEST(SquadScore, NormalisationOfficialRemovesPunctuationReferenceReplacesIt) {
  using N = pt::Normalization;
  EXPECT_EQ(pt::normalize_answer("The U.S. Army!", N::Official), "us army");
  EXPECT_EQ(pt::normalize_answer("The U.S. Army!", N::Reference), "u s army");
  EXPECT_EQ(pt::normalize_answer("a_b", N::Official), "ab");     // '_' is punctuation
  EXPECT_EQ(pt::normalize_answer("a_b", N::Reference), "b");     // '_' -> ' ', then the article goes
  EXPECT_EQ(pt::normalize_answer("the-end", N::Official), "theend");
  EXPECT_EQ(pt::normalize_answer("the-end", N::Reference), "end");
  EXPECT_EQ(pt::normalize_answer("An apple, a theater", N::Official), "apple theater");
  EXPECT_EQ(pt::normalize_answer("it’s", N::Official), "it’s");  // not ASCII punctuation
  EXPECT_EQ(pt::normalize_answer("it’s", N::Reference), "it s");
  EXPECT_EQ(pt::normalize_answer("  ÉCOLE\tNormale  ", N::Official), "école normale");
}

TEST(SquadScore, F1AndExactMatchOnHandComputedCases) {
  using N = pt::Normalization;
  // pred tokens {cat, sat, on, mat}, gold {cat, on, mat}: 3 shared, P = 3/4, R = 1, F1 = 6/7.
  EXPECT_NEAR(pt::f1_score("The cat sat on the mat", "cat on mat", N::Official), 6.0 / 7.0, 1e-12);
  EXPECT_EQ(pt::exact_match("The cat sat on the mat", "cat on mat", N::Official), 0.0);
  // "U.S. Army" vs "US Army": equal under the official rule; reference {u, s, army} vs {us, army}:
  // 1 shared, P = 1/3, R = 1/2, F1 = 0.4.
  EXPECT_EQ(pt::exact_match("U.S. Army", "US Army", N::Official), 1.0);
  EXPECT_EQ(pt::exact_match("U.S. Army", "US Army", N::Reference), 0.0);
  EXPECT_NEAR(pt::f1_score("U.S. Army", "US Army", N::Reference), 0.4, 1e-12);
  // Repeated tokens count once per occurrence: pred {paris, paris}, gold {paris}: P = 1/2, R = 1.
  EXPECT_NEAR(pt::f1_score("Paris Paris", "Paris", N::Official), 2.0 / 3.0, 1e-12);
  // Empty after normalisation: official 1 when both are empty; reference 0.
  EXPECT_EQ(pt::f1_score("!!", "the", N::Official), 1.0);
  EXPECT_EQ(pt::f1_score("!!", "the", N::Reference), 0.0);
  EXPECT_EQ(pt::f1_score("", "Paris", N::Official), 0.0);
  // Maximum over the gold answers.
  const std::vector<std::string> golds = {"Paris", "the city of Paris"};
  EXPECT_EQ(pt::max_exact_match("city of Paris", golds, N::Official), 1.0);
  EXPECT_NEAR(pt::max_f1("Paris city", golds, N::Official), 1.0 * 2 * (2.0 / 3.0) / (1 + 2.0 / 3.0), 1e-12);
  EXPECT_EQ(std::string(pt::normalization_name(N::Official)), "official");
}

// ---- squad: reader and buckets -----------------------------------------------------------------
TEST_F(Squad, ReaderAndBucketsSkipParagraphsWithoutTwoAnswerableQuestions) {
  auto qa = [](const std::string& q, const std::string& a, bool imp = false) {
    return "{\"question\": \"" + q + "\", \"id\": \"x\", \"is_impossible\": " + (imp ? "true" : "false") +
           ", \"answers\": [" + (a.empty() ? "" : "{\"text\": \"" + a + "\", \"answer_start\": 0}") + "]}";
  };
  const std::string json = "{\"version\": \"v2.0\", \"data\": [{\"title\": \"T\", \"paragraphs\": ["
                           "{\"context\": \"C0\", \"qas\": [" + qa("q0a", "a0a") + "," + qa("q0b", "a0b") + "]},"
                           "{\"context\": \"C1\", \"qas\": [" + qa("q1a", "a1a") + "," + qa("q1b", "", true) + "]},"
                           "{\"context\": \"C2\", \"qas\": [" + qa("q2a", "a2a") + "]},"
                           "{\"context\": \"C3\", \"qas\": [" + qa("q3a", "a3a") + "," + qa("q3b", "a3b") + "," + qa("q3c", "a3c") + "]},"
                           "{\"context\": \"C4\", \"qas\": [" + qa("q4a", "a4a") + "," + qa("q4b", "a4b") + "]}]}]}";
  const auto paras = pt::read_squad(write("squad.json", json));
  ASSERT_EQ(paras.size(), 5u);
  EXPECT_TRUE(paras[1].qas[1].impossible);
  const std::vector<int64_t> tokens = {10, 12, 14, 20, 40};
  pt::Rng rng(0);
  auto b = pt::squad_bucket(paras, tokens, 5, 20, 30, rng);  // C0..C3 in range; C1, C2 skipped
  EXPECT_EQ(b.n_in_range, 4);
  EXPECT_EQ(b.n_unanswerable, 2);
  ASSERT_EQ(b.items.size(), 2u);
  std::set<std::string> prompts;
  for (const auto& it : b.items) prompts.insert(it.prompt);
  EXPECT_TRUE(prompts.count("C3\n\nQuestion: q3a\nAnswer: a3a\n\nQuestion: q3b\nAnswer: "));  // the second question
  EXPECT_TRUE(prompts.count("C0\n\nQuestion: q0a\nAnswer: a0a\n\nQuestion: q0b\nAnswer: "));
  auto capped = pt::squad_bucket(paras, tokens, 0, 100, 1, rng);
  EXPECT_EQ(capped.items.size(), 1u);
  EXPECT_TRUE(pt::squad_bucket(paras, tokens, 40, 100, 30, rng).items.empty());  // lo is exclusive
}

TEST_F(Squad, WrongShapeNamesTheField) {
  auto expect_error = [&](const std::string& text, const std::string& needle) {
    try {
      pt::read_squad(write("bad.json", text));
      FAIL() << "no throw for " << text;
    } catch (const pt::DataError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("{\"data\": {}}", "data: expected an array");
  expect_error("[1, 2]", "(root): expected an object");
  expect_error("{\"data\": [{\"paragraphs\": [{\"context\": \"c\", \"qas\": [{\"question\": \"q\"}]}]}]}",
               "data[0].paragraphs[0].qas[0].answers: expected an array");
  expect_error("{\"data\": []}", "holds no paragraphs");
  expect_error("{\"data\": [", "squad:");
  expect_error("", "squad:");
}

// ---- C4 documents (hf/documents.h) ---------------------------------------------------------------
TEST_F(Documents, JsonlAndJsonReadTextsAndCountBrokenLines) {
  const std::string body = "{\"text\": \"first doc\", \"url\": \"u\"}\n{\"text\": \"broken\n\n{\"url\": \"no text\"}\n"
                           "{\"text\": \"second\\ndoc\"}\n";
  for (const std::string name : {"c4.jsonl", "c4.json"}) {
    const auto d = hf::read_jsonl_documents(write(name, body));
    EXPECT_EQ(d.texts, (std::vector<std::string>{"first doc", "second\ndoc"})) << name;
    EXPECT_EQ(d.bad_lines, 2) << name;
    EXPECT_EQ(d.first_bad.rfind("line 2:", 0), 0u) << d.first_bad;
  }
  const auto arr = hf::read_jsonl_documents(write("arr.json", "[{\"text\": \"a\"}, {\"text\": \"b\"}, 3]"));
  EXPECT_EQ(arr.texts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(arr.bad_lines, 1);
  EXPECT_THROW(hf::read_jsonl_documents((dir / "missing.jsonl").string()), hf::Error);
}

TEST_F(Documents, GzipFilesAreDecompressedAndTruncatedOnesRejected) {
#ifndef SSMLAB_TEST_HAVE_ZLIB
  GTEST_SKIP() << "zlib headers not found for the test build";
#else
  std::string body;
  for (int i = 0; i < 300; ++i) body += "{\"text\": \"document " + std::to_string(i) + "\"}\n";
  const std::string gz = (dir / "c4-train.00000-of-01024.json.gz").string();
  gzFile f = gzopen(gz.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, body.data(), static_cast<unsigned>(body.size())), static_cast<int>(body.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
  const auto d = hf::read_jsonl_documents(gz);
  ASSERT_EQ(d.texts.size(), 300u);
  EXPECT_EQ(d.texts[299], "document 299");
  EXPECT_EQ(d.bad_lines, 0);
  // The same file cut in half: a clear error, not a silently shorter corpus.
  std::ifstream in(gz, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  write("cut.json.gz", bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(hf::read_jsonl_documents((dir / "cut.json.gz").string()), hf::Error);
#endif
}

TEST(HeldOut, TheLastMin200OrAFifthAreEvaluationOnly) {
  EXPECT_EQ(hf::held_out_count(1000), 200);
  EXPECT_EQ(hf::held_out_count(5000), 200);
  EXPECT_EQ(hf::held_out_count(10), 2);
  EXPECT_EQ(hf::held_out_count(4), 0);
  std::vector<std::string> docs;
  for (int i = 0; i < 12; ++i) docs.push_back(std::to_string(i));
  const auto train = hf::training_documents(docs), eval = hf::evaluation_documents(docs);
  EXPECT_EQ(train.size(), 10u);
  EXPECT_EQ(eval, (std::vector<std::string>{"10", "11"}));
}

// ---- the real files under SSMLAB_DATA_DIR (skipped without it) ---------------------------------
namespace {
std::string data_dir() {
  const char* d = std::getenv("SSMLAB_DATA_DIR");
  return d ? d : "";
}
}  // namespace

TEST(RealData, C4SampleNamesAndSquadHalfDev) {
  const std::string d = data_dir();
  if (d.empty()) GTEST_SKIP() << "SSMLAB_DATA_DIR not set (source scripts/data-env.sh): real C4/names/SQuAD files not checked";
  const auto c4 = hf::read_jsonl_documents(d + "/c4/c4-en-sample.jsonl");
  EXPECT_EQ(c4.texts.size(), 1000u);
  EXPECT_EQ(c4.bad_lines, 0);
  EXPECT_EQ(hf::evaluation_documents(c4.texts).size(), 200u);
  const auto names = pt::load_census_names(d + "/names");
  ASSERT_EQ(names.first.size(), 2u);
  EXPECT_EQ(names.first[0].names.size(), 1219u);  // dist.male.first
  EXPECT_EQ(names.first[1].names.size(), 4275u);  // dist.female.first
  EXPECT_EQ(names.last.names.size(), 88799u);
  EXPECT_EQ(names.first[0].names[0], "James");
  const auto squad = pt::read_squad(d + "/squad-v2/dev-v2.0-half.json");
  EXPECT_EQ(squad.size(), 646u);
  size_t questions = 0;
  for (const auto& p : squad) questions += p.qas.size();
  EXPECT_EQ(questions, 6078u);
  // Buckets of 100 GPT-NeoX-20B tokens: every paragraph is in one, none is lost.
  const auto tok = hf::Tokenizer::from_file(d + "/tokenizers/gpt-neox-20b/tokenizer.json");
  std::vector<int64_t> tokens;
  for (const auto& p : squad) tokens.push_back(static_cast<int64_t>(tok.encode(p.context).size()));
  pt::Rng rng(0);
  int64_t in_range = 0;
  for (int64_t hi = 100; hi <= 1000; hi += 100) in_range += pt::squad_bucket(squad, tokens, hi - 100, hi, 30, rng).n_in_range;
  EXPECT_EQ(in_range + std::count_if(tokens.begin(), tokens.end(), [](int64_t t) { return t > 1000; }), 646);
}
