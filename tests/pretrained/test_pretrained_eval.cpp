// test_pretrained_eval.cpp — pretrained_eval end to end on the tiny random fixtures
// (tests/fixtures/hf/gpt_neox: 128 positions; mamba: none) with a small data folder made here:
// one complete, finite record per (model, task, length) (accuracy is whatever it is: the models are
// random), the context rule's skip record, the failed-examples side file, and bad input (exit 2 with
// one "error:" line naming the problem).
#include <gtest/gtest.h>

#include <set>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/common/child_process.h"
#include "ssmlab/jsonl_log.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ssmlab::test::sq;

namespace {
const std::string kEval = std::string(SSMLAB_BIN_DIR) + "/pretrained_eval";
const std::string kFix = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/hf/";

class PretrainedEval : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = ssmlab::test::fresh_temp_dir("pretrained_eval");
    data = dir / "data";
    fs::create_directories(data / "c4");
    fs::create_directories(data / "names");
    fs::create_directories(data / "squad-v2");
    std::ofstream c4(data / "c4" / "c4-sample.jsonl");
    for (int i = 0; i < 30; ++i)  // the last 6 are evaluation documents (min(200, 30 / 5))
      c4 << json{{"text", "Document " + std::to_string(i) + " talks about rivers.\nIt has two lines and a few words."}}.dump()
         << "\n";
    c4 << "{\"text\": \"a broken line\n";  // skipped with a warning, counted in the record
    std::ofstream(data / "names" / "dist.female.first") << "MARY 2.629 2.629 1\nANNA 1.0 3.629 2\nLISA 0.5 4.1 3\n";
    std::ofstream(data / "names" / "dist.all.last") << "SMITH 1.006 1.006 1\nJONES 0.6 1.6 2\nBROWN 0.5 2.1 3\n";
    json paras = json::array();
    for (int i = 0; i < 6; ++i) {
      std::string ctx = "Paragraph " + std::to_string(i) + ": the river Foo runs north.";
      for (int k = 0; k < i; ++k) ctx += " It is long.";
      json qas = {{{"question", "Where does Foo run?"}, {"id", "a"}, {"is_impossible", false},
                   {"answers", {{{"text", "north"}, {"answer_start", 0}}}}},
                  {{"question", "What runs north?"}, {"id", "b"}, {"is_impossible", i == 5},
                   {"answers", i == 5 ? json::array() : json{{{"text", "the river Foo"}, {"answer_start", 0}}}}}};
      paras.push_back({{"context", ctx}, {"qas", qas}});
    }
    std::ofstream(data / "squad-v2" / "dev.json") << json{{"version", "v2.0"}, {"data", {{{"title", "T"}, {"paragraphs", paras}}}}}.dump();
  }
  void TearDown() override { ssmlab::test::remove_tree(dir); }

  std::pair<int, std::string> run(const std::string& args) const {
    return ssmlab::test::run_command(kEval + " --threads 1 --data-dir " + sq(data.string()) + " --out " +
                                         sq(dir.string()) + " --log " + sq((dir / "log.jsonl").string()) + " " + args,
                                     300);
  }
  std::vector<json> records(const std::string& kind) const {
    std::vector<json> out;
    for (auto& l : ssmlab::read_jsonl((dir / "log.jsonl").string()))
      if (l.value.value("record", "") == kind) out.push_back(l.value);
    return out;
  }
  fs::path dir, data;
};

void expect_complete(const json& m) {
  for (const char* k : {"model", "task", "length", "n_prompts", "accuracy", "tokens_per_s", "generated_tokens"})
    EXPECT_TRUE(m.contains(k)) << k << " missing in " << m.dump();
  EXPECT_GE(m["accuracy"].get<double>(), 0.0);
  EXPECT_LE(m["accuracy"].get<double>(), 1.0);
  EXPECT_TRUE(std::isfinite(m["tokens_per_s"].get<double>()));
  EXPECT_GT(m["generated_tokens"].get<int64_t>(), 0);
}

int error_lines(const std::string& out) {
  int n = 0;
  std::istringstream is(out);
  for (std::string line; std::getline(is, line);) n += line.rfind("error:", 0) == 0;
  return n;
}
}  // namespace

TEST_F(PretrainedEval, C4CopyTwoModelsWithTheContextRule) {
  // --model twice (repeatable). L = 50: prompt ~2 x 50 + answer ~50 tokens > 128 positions of the GPT-NeoX fixture: skipped;
  // Mamba has no position limit and runs it.
  auto [rc, out] = run("--model " + kFix + "gpt_neox --model " + kFix + "mamba --eval-task c4_copy --eval-lens 4 50"
                       " --eval-num-batches 2 --eval-batch-size 2");
  ASSERT_EQ(rc, 0) << out;
  const auto evals = records("eval");
  ASSERT_EQ(evals.size(), 4u) << out;
  int skipped = 0;
  for (const auto& r : evals) {
    const auto& m = r["metrics"];
    EXPECT_EQ(r["status"], "ok");
    if (m["skipped"].get<bool>()) {
      ++skipped;
      EXPECT_EQ(m["model"], "gpt_neox");
      EXPECT_EQ(m["length"], 50);
      EXPECT_EQ(m["skip_reason"], "context");
      EXPECT_GT(m["needed_positions"].get<int64_t>(), 128);
      continue;
    }
    expect_complete(m);
    EXPECT_EQ(m["n_prompts"], 4);
    EXPECT_EQ(m["c4_bad_lines"], 1);
  }
  EXPECT_EQ(skipped, 1);
  EXPECT_NE(out.find("skipped 1 broken line"), std::string::npos) << out;
  const auto res = records("result");
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0]["metrics"]["n_evaluated"], 3);
  EXPECT_EQ(res[0]["metrics"]["n_skipped"], 1);
  EXPECT_EQ(res[0]["metrics"]["c4_eval_documents"], 6);
  // Failed examples: at most --max-failures (3) per (model, length), each with prompt tail, expected, got.
  const auto fails = ssmlab::read_jsonl((dir / "pretrained" / "failures.jsonl").string());
  EXPECT_GE(fails.size(), 1u);
  EXPECT_LE(fails.size(), 9u);
  for (const auto& f : fails)
    for (const char* k : {"prompt_tail", "expected", "got", "model", "length"}) EXPECT_TRUE(f.value.contains(k)) << k;
}

TEST_F(PretrainedEval, PhoneBookAndSquadRecords) {
  auto [rc, out] = run("--model " + kFix + "mamba --eval-task phone_book --min-eval-len 3 --max-eval-len 5 "
                       "--eval-len-step 2 --eval-num-batches 1 --eval-batch-size 3");
  ASSERT_EQ(rc, 0) << out;
  auto evals = records("eval");
  ASSERT_EQ(evals.size(), 2u);
  for (const auto& r : evals) {
    expect_complete(r["metrics"]);
    EXPECT_EQ(r["metrics"]["n_prompts"], 3);
  }
  EXPECT_EQ(evals[1]["metrics"]["length"], 5);

  // squad: buckets (0, 20] (empty: a skip record) and (20, 200] with the 5 answerable paragraphs of 6.
  auto [rc2, out2] = run("--model " + kFix + "mamba --eval-task squad --eval-lens 20 200 --eval-batch-size 4 "
                         "--squad-min-per-bucket 10");
  ASSERT_EQ(rc2, 0) << out2;
  evals = records("eval");
  ASSERT_EQ(evals.size(), 4u);
  const auto& empty = evals[2]["metrics"];
  EXPECT_TRUE(empty["skipped"].get<bool>());
  EXPECT_EQ(empty["skip_reason"], "empty_bucket");
  const auto& m = evals[3]["metrics"];
  expect_complete(m);
  EXPECT_EQ(m["n_prompts"], 5);
  EXPECT_EQ(m["paragraphs_in_bucket"], 6);
  EXPECT_EQ(m["paragraphs_skipped_unanswerable"], 1);
  EXPECT_EQ(m["normalization"], "official");
  EXPECT_TRUE(m.contains("em") && m.contains("f1"));
  EXPECT_TRUE(m.contains("warning"));  // 5 < --squad-min-per-bucket 10
  EXPECT_NE(out2.find("warning:"), std::string::npos);

  // With a step, the first bucket starts one step below the first length: (90, 150], then (150, 210].
  auto [rc3, out3] = run("--model " + kFix + "mamba --eval-task squad --min-eval-len 150 --max-eval-len 210 "
                         "--eval-len-step 60 --squad-max-per-bucket 1 --squad-min-per-bucket 0");
  ASSERT_EQ(rc3, 0) << out3;
  evals = records("eval");
  ASSERT_EQ(evals.size(), 6u);
  EXPECT_EQ(evals[4]["metrics"]["bucket_lo_exclusive"], 90);
  EXPECT_EQ(evals[4]["metrics"]["bucket_hi"], 150);
  EXPECT_EQ(evals[5]["metrics"]["bucket_lo_exclusive"], 150);
}

TEST_F(PretrainedEval, BatchedGenerationEqualsOneByOne) {
  // The same 4 prompts per length (seeded by seed, task, length) in one batch of 4 (left-padded:
  // their lengths differ) and in 4 batches of 1: the same continuations, hence the same failures.
  auto gots = [&](const std::string& batching, const std::string& tag) {
    const auto side = (dir / ("failures_" + tag + ".jsonl")).string();
    auto [rc, out] = run("--model " + kFix + "gpt_neox," + kFix + "mamba --eval-task phone_book --eval-lens 3 4 " +
                         batching + " --max-failures 4 --failures " + sq(side));
    EXPECT_EQ(rc, 0) << out;
    std::vector<std::string> g;
    for (const auto& l : ssmlab::read_jsonl(side)) g.push_back(l.value["got"].get<std::string>() + " | " + l.value["finish_reason"].get<std::string>());
    return g;
  };
  const auto batched = gots("--eval-num-batches 1 --eval-batch-size 4", "b4");
  const auto single = gots("--eval-num-batches 4 --eval-batch-size 1", "b1");
  EXPECT_FALSE(batched.empty());
  EXPECT_EQ(batched, single);
}

// Two folders with the same name (runs/mamba/best, runs/transformer/best, as mamba_train saves them)
// get labels that tell them apart: as many trailing path parts as needed.
TEST_F(PretrainedEval, FoldersWithTheSameNameGetDistinctLabels) {
  for (const char* m : {"a", "b"}) {
    fs::create_directories(dir / "runs" / m);
    fs::copy(kFix + "mamba", dir / "runs" / m / "best", fs::copy_options::recursive);
  }
  auto [rc, out] = run("--model " + (dir / "runs" / "a" / "best").string() + "," + (dir / "runs" / "b" / "best").string() +
                       " --eval-task phone_book --eval-lens 3 --eval-batch-size 2 --eval-num-batches 1");
  ASSERT_EQ(rc, 0) << out;
  std::set<std::string> labels;
  for (const auto& r : records("eval")) labels.insert(r["metrics"]["model"].get<std::string>());
  EXPECT_EQ(labels, (std::set<std::string>{"a/best", "b/best"}));
}

TEST_F(PretrainedEval, BadInputIsAClearErrorWithExit2) {
  const std::string m = "--model " + kFix + "gpt_neox ";
  auto expect_usage = [&](const std::string& args, const std::string& needle) {
    auto [rc, out] = run(args);
    EXPECT_EQ(rc, 2) << args << "\n" << out;
    EXPECT_EQ(error_lines(out), 1) << out;
    EXPECT_NE(out.find(needle), std::string::npos) << out;
  };
  expect_usage(m + "--eval-task c4_copy --min-eval-len 9 --max-eval-len 3", "--min-eval-len (9) > --max-eval-len (3)");
  expect_usage(m + "--eval-task phone_book --eval-lens 2 4", "phone_book needs lengths >= 3");
  expect_usage(m + "--eval-task copy --eval-lens 4", "--eval-task");
  expect_usage(m + "--eval-task squad --eval-lens 50 --squad-min-per-bucket 40 --squad-max-per-bucket 30",
               "--squad-min-per-bucket (40) > --squad-max-per-bucket (30)");
  expect_usage(m + "--eval-task squad", "--eval-lens");
  fs::remove(data / "c4" / "c4-sample.jsonl");
  expect_usage(m + "--eval-task c4_copy --eval-lens 4", "c4/*.jsonl");
  std::ofstream(data / "names" / "dist.all.last", std::ios::trunc) << "\n";
  expect_usage(m + "--eval-task phone_book --eval-lens 3", "holds no names");
  std::ofstream(data / "squad-v2" / "dev.json", std::ios::trunc) << "{\"data\": [{\"paragraphs\": {}}]}";
  expect_usage(m + "--eval-task squad --eval-lens 50", "data[0].paragraphs: expected an array");
  auto [rc, out] = ssmlab::test::run_command("env -u SSMLAB_DATA_DIR " + kEval + " " + m + "--eval-task squad --eval-lens 50 --log none");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("SSMLAB_DATA_DIR"), std::string::npos) << out;
}
