// Parity of hf/ models with Hugging Face transformers on the fixtures in tests/fixtures/hf/:
// logits (fp32, CPU) within 1e-4 of the recorded ones, greedy continuations token-identical
// (uncached and KV-cache / recurrent-state paths), strict loading errors, pytorch_model.bin,
// sampling, and the `generate` binary.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "ssmlab/hf/models.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ssmlab::hf;

namespace {

const std::string kFixtures = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/hf";
constexpr double kLogitTol = 1e-4;

const json& references() {
  static const json j = [] {
    std::ifstream in(kFixtures + "/references.json");
    json r;
    in >> r;
    return r;
  }();
  return j;
}

// "<name>_reference": the same fixture through hf/'s own Mamba (LoadOptions::reference_mamba).
class Parity : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(Parity, LogitsAndGreedyMatchTransformers) {
  std::string name = GetParam();
  LoadOptions lo;
  lo.require_tokenizer = true;
  if (name.size() > 10 && name.substr(name.size() - 10) == "_reference") {
    lo.reference_mamba = true;
    name = name.substr(0, name.size() - 10);
  }
  const json& ref = references()["models"][name];
  ASSERT_FALSE(ref.is_null()) << "no references for " << name;
  at::set_num_threads(1);
  Pretrained p = load_pretrained(kFixtures + "/" + ref["dir"].get<std::string>(), lo);
  std::printf("%s: %s, weights %s\n", name.c_str(), p.config.summary().c_str(),
              fs::path(p.weights_file).filename().c_str());
  for (const auto& pr : ref["prompts"]) {
    const auto ids = pr["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(p.tokenizer->encode(pr["text"].get<std::string>()), ids);
    // logits, no cache
    const auto want_rows = pr["logits"].get<std::vector<std::vector<float>>>();
    const int64_t T = static_cast<int64_t>(want_rows.size()), V = static_cast<int64_t>(want_rows[0].size());
    torch::Tensor want = torch::empty({T, V});
    for (int64_t t = 0; t < T; ++t) std::copy(want_rows[t].begin(), want_rows[t].end(), want[t].data_ptr<float>());
    torch::Tensor got = p.model->logits(torch::tensor(ids, torch::kInt64).unsqueeze(0))[0];
    ASSERT_EQ(got.sizes(), want.sizes());
    const double maxdiff = (got - want).abs().max().item<double>();
    const double meandiff = (got - want).abs().mean().item<double>();
    std::printf("  %-32s T=%2ld max|dlogit|=%.3g mean=%.3g (tol %.0e)\n", pr["text"].dump().c_str(),
                static_cast<long>(T), maxdiff, meandiff, kLogitTol);
    EXPECT_LE(maxdiff, kLogitTol) << name << " prompt " << pr["text"];
    // the cached path gives the same logits, fed in two chunks
    p.model->reset(1);
    const int64_t split = T / 2 > 0 ? T / 2 : 1;
    torch::Tensor a = p.model->step(torch::tensor(ids, torch::kInt64).narrow(0, 0, split).unsqueeze(0))[0];
    torch::Tensor parts = a;
    if (split < T) {
      torch::Tensor b = p.model->step(torch::tensor(ids, torch::kInt64).narrow(0, split, T - split).unsqueeze(0))[0];
      parts = torch::cat({a, b}, 0);
    }
    EXPECT_LE((parts - want).abs().max().item<double>(), kLogitTol) << "cached path, " << name;
    // greedy continuations
    const auto greedy = pr["greedy"].get<std::vector<int64_t>>();
    EXPECT_EQ(greedy_uncached(*p.model, ids, static_cast<int64_t>(greedy.size())), greedy) << name;
    SamplingOptions opt;
    opt.max_new_tokens = static_cast<int64_t>(greedy.size());
    EXPECT_EQ(generate(*p.model, ids, opt), greedy) << "cached greedy, " << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity, ::testing::Values("gpt_neox", "gpt2", "mamba", "mamba_orig", "mamba_reference",
                                                            "mamba_orig_reference"),
                         [](const auto& info) { return info.param; });

TEST(StrictLoading, ListsEveryMismatch) {
  Pretrained p = load_pretrained(kFixtures + "/gpt_neox");
  TensorMap t = load_checkpoint_tensors(kFixtures + "/gpt_neox");
  t.erase("gpt_neox.layers.1.mlp.dense_4h_to_h.bias");
  t["gpt_neox.layers.0.extra.weight"] = torch::zeros({3});
  t["gpt_neox.final_layer_norm.weight"] = torch::zeros({65});
  t["gpt_neox.layers.0.attention.rotary_emb.inv_freq"] = torch::zeros({4});  // ignorable buffer
  try {
    load_weights(*p.model, t);
    FAIL() << "mismatching checkpoint accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    std::printf("%s\n", m.c_str());
    EXPECT_NE(m.find("1 missing, 1 unused, 1 shape mismatches"), std::string::npos);
    EXPECT_NE(m.find("gpt_neox.layers.1.mlp.dense_4h_to_h.bias"), std::string::npos);
    EXPECT_NE(m.find("gpt_neox.layers.0.extra.weight"), std::string::npos);
    EXPECT_NE(m.find("gpt_neox.final_layer_norm.weight: checkpoint [65] vs model [64]"), std::string::npos);
    EXPECT_EQ(m.find("inv_freq"), std::string::npos);
  }
  // a broken tie (Mamba lm_head differing from the embedding) is an error too
  Pretrained mamba = load_pretrained(kFixtures + "/mamba");
  TensorMap mt = load_checkpoint_tensors(kFixtures + "/mamba");
  mt["lm_head.weight"] = mt.at("backbone.embeddings.weight") + 1.0;
  EXPECT_THROW(load_weights(*mamba.model, mt), Error);
}

TEST(Checkpoint, PytorchBinMatchesSafetensors) {
  std::string src;
  TensorMap bin = load_checkpoint_tensors(kFixtures + "/mamba_orig", &src);
  EXPECT_NE(src.find("pytorch_model.bin"), std::string::npos);
  TensorMap st = load_checkpoint_tensors(kFixtures + "/mamba");
  ASSERT_TRUE(bin.count("backbone.embedding.weight"));
  EXPECT_TRUE(torch::equal(bin.at("backbone.embedding.weight"), st.at("backbone.embeddings.weight")));
  EXPECT_TRUE(torch::equal(bin.at("backbone.layers.1.mixer.A_log"), st.at("backbone.layers.1.mixer.A_log")));
  // not a zip -> clear error
  const fs::path bad = fs::temp_directory_path() / ("ssmlab_bad_" + std::to_string(::getpid()) + ".bin");
  std::ofstream(bad) << "garbage";
  EXPECT_THROW(load_pytorch_bin(bad.string()), Error);
  fs::remove(bad);
  EXPECT_THROW(load_checkpoint_tensors(fs::temp_directory_path().string()), Error);
}

TEST(Sampling, TopKOneIsGreedyAndSeedsRepeat) {
  Pretrained p = load_pretrained(kFixtures + "/gpt2");
  const std::vector<int64_t> prompt = {10, 20, 30};
  SamplingOptions g;
  g.max_new_tokens = 8;
  const auto greedy = generate(*p.model, prompt, g);
  SamplingOptions k1 = g;
  k1.temperature = 0.7;
  k1.top_k = 1;
  EXPECT_EQ(generate(*p.model, prompt, k1), greedy);
  SamplingOptions s = g;
  s.temperature = 1.0;
  s.top_p = 0.9;
  s.seed = 7;
  const auto a = generate(*p.model, prompt, s), b = generate(*p.model, prompt, s);
  EXPECT_EQ(a, b);
  // top-p = tiny keeps only the most likely token
  SamplingOptions tp = s;
  tp.top_p = 1e-9;
  EXPECT_EQ(generate(*p.model, prompt, tp), greedy);
  // eos stops generation right after it
  SamplingOptions e = g;
  e.eos_token_id = greedy[2];
  EXPECT_EQ(generate(*p.model, prompt, e).size(), 3u);
}

TEST(GenerateBinary, RunsOnFixtures) {
  const std::string bin = std::string(SSMLAB_BIN_DIR) + "/generate";
  if (!fs::exists(bin)) GTEST_SKIP() << bin << " not built";
  for (const char* m : {"gpt_neox", "gpt2", "mamba", "mamba_orig"}) {
    const std::string cmd = bin + " --model " + kFixtures + "/" + m +
                            " --prompt 'The state space model' --max-new-tokens 6 --quiet > /dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  const std::string sample = bin + " --model " + kFixtures + "/gpt2 --prompt 'Hello' --max-new-tokens 4 " +
                             "--temperature 0.8 --top-k 20 --top-p 0.9 --seed 3 --quiet > /dev/null";
  EXPECT_EQ(std::system(sample.c_str()), 0);
  const std::string interactive = "printf 'one\\ntwo\\n' | " + bin + " --model " + kFixtures +
                                  "/mamba --interactive --max-new-tokens 3 --quiet > /dev/null";
  EXPECT_EQ(std::system(interactive.c_str()), 0);
  const std::string bad = bin + " --model /nonexistent --prompt x > /dev/null 2>&1";
  EXPECT_NE(std::system(bad.c_str()), 0);
}
