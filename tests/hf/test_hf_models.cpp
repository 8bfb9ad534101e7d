// Parity of Hugging Face folders loaded into models:: (hf::load_pretrained) with transformers on the
// fixtures in tests/fixtures/hf/ (scripts/make_hf_fixtures.py): logits (fp32, CPU) within 1e-4 of
// the recorded ones, greedy continuations token-identical (uncached reference twin, cached
// generation at batch 1, and all prompts of a fixture as one left-padded batch), the Mamba
// reference twin (mamba_lm_forward_ref), strict loading errors, pytorch_model.bin, save_pretrained
// round trips, bad folders, and the `generate` binary.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "tests/test_support.h"
#include "tests/hf/zip_util.h"
#include "models/generation.h"
#include "models/mamba.h"
#include "models/registry.h"
#include "models/trainer.h"
#include "models/transformer.h"
#include "ssmlab/hf/pretrained.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ssmlab::hf;
namespace sm = ssmlab::models;

namespace {

const std::string kFixtures = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/hf";
constexpr double kLogitTol = 1e-4;
constexpr int kFixtureVersion = 1;  // references.json "version" this test reads

const json& references() {
  static const json j = [] {
    std::ifstream in(kFixtures + "/references.json");
    json r;
    in >> r;
    return r;
  }();
  return j;
}

torch::Tensor rows(const json& logits) {
  const auto r = logits.get<std::vector<std::vector<float>>>();
  auto t = torch::empty({static_cast<int64_t>(r.size()), static_cast<int64_t>(r[0].size())});
  for (size_t i = 0; i < r.size(); ++i) std::copy(r[i].begin(), r[i].end(), t[i].data_ptr<float>());
  return t;
}

class Parity : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(Fixtures, FormatVersionIsCurrent) {
  const json& r = references();
  ASSERT_EQ(r.value("format", ""), "ssmlab-hf-fixtures") << "tests/fixtures/hf/references.json is not a fixture file";
  ASSERT_EQ(r.value("version", -1), kFixtureVersion)
      << "stale fixtures: regenerate them with scripts/make_hf_fixtures.py (on a machine with transformers)";
}

TEST_P(Parity, LogitsAndGreedyMatchTransformers) {
  const std::string name = GetParam();
  const json& ref = references()["models"][name];
  ASSERT_FALSE(ref.is_null()) << "no references for " << name << ": regenerate with scripts/make_hf_fixtures.py";
  at::set_num_threads(1);
  LoadOptions lo;
  lo.require_tokenizer = true;
  Pretrained p = load_pretrained(kFixtures + "/" + ref["dir"].get<std::string>(), lo);
  std::printf("%s: %s, weights %s\n", name.c_str(), p.config.summary().c_str(), fs::path(p.weights_file).filename().c_str());
  std::vector<std::vector<int64_t>> prompts, greedy;
  for (const auto& pr : ref["prompts"]) {
    const auto ids = pr["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(p.tokenizer->encode(pr["text"].get<std::string>()), ids);
    const torch::Tensor want = rows(pr["logits"]);
    const int64_t T = want.size(0);
    torch::NoGradGuard ng;
    torch::Tensor got = p.model->forward(torch::tensor(ids, torch::kInt64).unsqueeze(0))[0];
    ASSERT_EQ(got.sizes(), want.sizes());
    const double maxdiff = (got - want).abs().max().item<double>();
    std::printf("  %-32s T=%2ld max|dlogit|=%.3g mean=%.3g (tol %.0e)\n", pr["text"].dump().c_str(), static_cast<long>(T),
                maxdiff, (got - want).abs().mean().item<double>(), kLogitTol);
    EXPECT_LE(maxdiff, kLogitTol) << name << " prompt " << pr["text"];
    if (auto* mamba = dynamic_cast<sm::MambaLMImpl*>(p.model.get()))  // the reference twin, same weights
      EXPECT_LE((sm::mamba_lm_forward_ref(*mamba, torch::tensor(ids, torch::kInt64).unsqueeze(0))[0] - want).abs().max().item<double>(),
                kLogitTol) << "mamba_lm_forward_ref, " << name;
    // the cached path gives the same logits, fed in two chunks
    auto cache = p.model->new_cache(1, T);
    const int64_t split = T / 2 > 0 ? T / 2 : 1;
    torch::Tensor parts = p.model->forward(torch::tensor(ids, torch::kInt64).narrow(0, 0, split).unsqueeze(0), &cache)[0];
    if (split < T)
      parts = torch::cat({parts, p.model->forward(torch::tensor(ids, torch::kInt64).narrow(0, split, T - split).unsqueeze(0), &cache)[0]});
    EXPECT_LE((parts - want).abs().max().item<double>(), kLogitTol) << "cached path, " << name;
    prompts.push_back(ids);
    greedy.push_back(pr["greedy"].get<std::vector<int64_t>>());
  }
  const int64_t n = static_cast<int64_t>(greedy[0].size());
  sm::GenerationOptions g;
  g.max_new_tokens = n;
  EXPECT_EQ(sm::greedy_uncached(*p.model, prompts, n), greedy) << "uncached greedy, " << name;
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(sm::generate(*p.model, {prompts[i]}, g).tokens[0], greedy[i]) << "cached greedy, batch 1, " << name;
  EXPECT_EQ(sm::generate(*p.model, prompts, g).tokens, greedy) << "cached greedy, one left-padded batch, " << name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity,
                         ::testing::Values("gpt_neox", "gpt2", "mamba", "mamba_orig", "gpt_neox_seq", "gpt_neox_frac",
                                           "gpt2_inner", "mamba_small", "mamba2", "mamba_untied"),
                         [](const auto& info) { return info.param; });

TEST(Fixtures, OddRotaryFollowsTransformers) {
  // transformers 5.17 (recorded by make_hf_fixtures.py): rotary_ndims = int(P * pct); odd -> one more dim rotated.
  const json& rot = references()["models"]["gpt_neox_seq"]["rotary"];
  ASSERT_FALSE(rot.is_null());
  Pretrained p = load_pretrained(kFixtures + "/gpt_neox_seq");
  auto* t = dynamic_cast<sm::TransformerLMImpl*>(p.model.get());
  ASSERT_NE(t, nullptr);
  const auto inv = rot["inv_freq"].get<std::vector<double>>();
  EXPECT_EQ(t->options.rotated_dims(), static_cast<int64_t>(2 * inv.size()));
  EXPECT_EQ(t->options.rotary_ndims() % 2, 1) << "the fixture is meant to have an odd rotary_ndims";
}

TEST(StrictLoading, ListsEveryMismatch) {
  Pretrained p = load_pretrained(kFixtures + "/gpt_neox");
  TensorMap t = load_checkpoint_tensors(kFixtures + "/gpt_neox");
  t.erase("gpt_neox.layers.1.mlp.dense_4h_to_h.bias");
  t["gpt_neox.layers.0.extra.weight"] = torch::zeros({3});
  t["gpt_neox.final_layer_norm.weight"] = torch::zeros({65});
  t["gpt_neox.layers.0.attention.rotary_emb.inv_freq"] = torch::zeros({4});  // ignorable buffer
  try {
    load_weights(*p.model, p.config, t);
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
  EXPECT_THROW(load_weights(*mamba.model, mamba.config, mt), Error);
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

// pytorch_model.bin through ssmlab's own reader (torch_bin.h; issue 14)
namespace {
const std::string kCases = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/cases";
// Runs `generate` on `dir`; returns its exit status (-signal when killed) and stdout+stderr.
std::pair<int, std::string> run_generate(const std::string& dir) {
  const std::string cmd = std::string(SSMLAB_BIN_DIR) + "/generate --model " + dir + " --prompt Hello --max-new-tokens 3 --quiet 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (f && std::fgets(buf, sizeof buf, f)) out += buf;
  const int st = f ? ::pclose(f) : -1;
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st), out};
}
}  // namespace

TEST(Checkpoint, PytorchBinEveryTensorEqualsTheSafetensorsFixture) {
  TensorMap bin = load_checkpoint_tensors(kFixtures + "/mamba_orig");
  TensorMap st = load_checkpoint_tensors(kFixtures + "/mamba");
  ASSERT_EQ(bin.size(), st.size() + 1);  // + lm_head.weight, tied (one storage) in the .bin, left out of the safetensors
  for (const auto& [name, t] : bin) {
    std::string n = name == "lm_head.weight" ? "backbone.embeddings.weight" : name;
    if (n.rfind("backbone.embedding.", 0) == 0) n.replace(0, 19, "backbone.embeddings.");
    ASSERT_TRUE(st.count(n)) << n;
    EXPECT_TRUE(t.is_contiguous() && t.device().is_cpu()) << name;
    EXPECT_EQ(t.scalar_type(), st.at(n).scalar_type()) << name;
    EXPECT_TRUE(torch::equal(t, st.at(n))) << name;
  }
}

TEST(Checkpoint, PytorchBinSavedFromCudaLoadsOnTheCpu) {
  TensorMap cuda = load_checkpoint_tensors(kCases + "/bin_storages_on_cuda");
  TensorMap cpu = load_checkpoint_tensors(kFixtures + "/mamba_orig");
  ASSERT_EQ(cuda.size(), cpu.size());
  for (const auto& [name, t] : cpu) {
    ASSERT_TRUE(cuda.count(name)) << name;
    EXPECT_TRUE(cuda.at(name).device().is_cpu());
    EXPECT_TRUE(torch::equal(cuda.at(name), t)) << name;
  }
  const auto [code, out] = run_generate(kCases + "/bin_storages_on_cuda");
  EXPECT_EQ(code, 0) << out;
}

TEST(Checkpoint, PytorchBinNonContiguousStridesBecomeContiguousTensors) {
  // the real file with one tensor's sizes and strides edited into a transposed view of its storage:
  // A_log (128, 16) strides (16, 1) -> (16, 128) strides (1, 16)
  auto e = ssmlab::test::unzip(kFixtures + "/mamba_orig/pytorch_model.bin");
  auto& pkl = ssmlab::test::zip_entry(e, "/data.pkl");
  const std::string from("K\x00K\x80K\x10\x86q\x19K\x10K\x01\x86", 14), to("K\x00K\x10K\x80\x86q\x19K\x01K\x10\x86", 14);
  std::string s(pkl.begin(), pkl.end());
  const auto at = s.find(from);
  ASSERT_NE(at, std::string::npos);
  s.replace(at, from.size(), to);
  pkl.assign(s.begin(), s.end());
  const fs::path dir = ssmlab::test::fresh_temp_dir("ssmlab_bin_strided");
  ssmlab::test::write_zip((dir / "pytorch_model.bin").string(), e);
  TensorMap t = load_pytorch_bin((dir / "pytorch_model.bin").string());
  TensorMap ref = load_checkpoint_tensors(kFixtures + "/mamba_orig");
  const auto& a = t.at("backbone.layers.0.mixer.A_log");
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{16, 128}));
  EXPECT_TRUE(a.is_contiguous());
  EXPECT_TRUE(torch::equal(a, ref.at("backbone.layers.0.mixer.A_log").t()));
  // tied weights share one storage record: both entries hold the same values
  EXPECT_TRUE(torch::equal(t.at("lm_head.weight"), t.at("backbone.embedding.weight")));
  ssmlab::test::remove_tree(dir);
}

TEST(Checkpoint, HostilePytorchBinIsACleanErrorInGenerate) {
  const std::pair<const char*, const char*> cases[] = {
      {"bin_pickle_tuple2_empty_stack", "data.pkl: stack underflow (opcode 0x86 at byte 2)"},
      {"bin_negative_storage_offset", "tensor 'backbone.embedding.weight': negative storage offset -1000"}};
  for (const auto& [name, needle] : cases) {
    const std::string dir = kCases + "/hostile/" + name;
    try {
      load_checkpoint_tensors(dir);
      ADD_FAILURE() << name << " loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    if (!fs::exists(std::string(SSMLAB_BIN_DIR) + "/generate")) continue;
    const auto [code, out] = run_generate(dir);
    EXPECT_EQ(code, 1) << name << ": " << out;  // an exit, not a signal
    EXPECT_NE(out.find("error: "), std::string::npos) << out;
    EXPECT_NE(out.find(needle), std::string::npos) << out;
  }
}

namespace {
// Writes a copy of fixture `name` into a fresh folder, letting `edit` change config/tensors.
std::string edited_copy(const std::string& name, const std::function<void(json&, TensorMap&)>& edit) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("ssmlab_bad_" + name);
  std::ifstream in(kFixtures + "/" + name + "/config.json");
  json cfg;
  in >> cfg;
  TensorMap t = load_checkpoint_tensors(kFixtures + "/" + name);
  edit(cfg, t);
  std::ofstream(dir / "config.json") << cfg.dump(2);
  write_safetensors((dir / "model.safetensors").string(), t);
  fs::copy_file(kFixtures + "/" + name + "/tokenizer.json", dir / "tokenizer.json");
  return dir.string();
}
void expect_load_error(const std::string& dir, const std::string& needle) {
  try {
    load_pretrained(dir);
    ADD_FAILURE() << dir << ": loaded, expected an error naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  ssmlab::test::remove_tree(dir);
}
}  // namespace

TEST(BadFolders, OneClearErrorNamingTheTensorOrField) {
  // config and weights of different architectures
  expect_load_error(edited_copy("mamba", [](json&, TensorMap& t) { t = load_checkpoint_tensors(kFixtures + "/gpt_neox"); }),
                    "backbone.embeddings.weight");
  // a missing tensor, an extra tensor, a shape mismatch, an integer tensor for a float parameter
  expect_load_error(edited_copy("gpt_neox", [](json&, TensorMap& t) { t.erase("gpt_neox.layers.0.attention.dense.bias"); }),
                    "gpt_neox.layers.0.attention.dense.bias");
  expect_load_error(edited_copy("gpt_neox", [](json&, TensorMap& t) { t["gpt_neox.layers.9.mlp.x"] = torch::zeros({2}); }),
                    "gpt_neox.layers.9.mlp.x");
  expect_load_error(edited_copy("mamba", [](json&, TensorMap& t) { t["backbone.norm_f.weight"] = torch::ones({3}); }),
                    "backbone.norm_f.weight: checkpoint [3]");
  expect_load_error(edited_copy("mamba", [](json&, TensorMap& t) {
                      t["backbone.norm_f.weight"] = torch::ones(t["backbone.norm_f.weight"].sizes(), torch::kInt32);
                    }),
                    "backbone.norm_f.weight: checkpoint dtype Int");
  // a tokenizer with more ids than the embedding has rows
  expect_load_error(edited_copy("mamba", [](json& c, TensorMap& t) {
                      c["vocab_size"] = 16;
                      t["backbone.embeddings.weight"] = t["backbone.embeddings.weight"].narrow(0, 0, 16).clone();
                    }),
                    "the tokenizer has");
  // absurd sizes are refused before anything is allocated
  expect_load_error(edited_copy("mamba", [](json& c, TensorMap&) { c["expand"] = int64_t{1} << 62; }), "\"expand\"");
}

// What was meant, when --model is not a checkpoint folder: a missing path, a file, a run folder.
TEST(BadFolders, NotAFolderSaysWhatItIs) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("not_a_folder");
  expect_load_error((dir / "missing").string(), "no such checkpoint folder");
  std::ofstream(dir / "last.ckpt") << "SSMLABCK";
  expect_load_error((dir / "last.ckpt").string(), "is a file, not a checkpoint folder");
  fs::create_directories(dir / "run");
  fs::copy(kFixtures + "/mamba", dir / "run" / "best", fs::copy_options::recursive);
  expect_load_error((dir / "run").string(), "its best model is");
  ssmlab::test::remove_tree(dir);
}

TEST(BadFolders, SpecialFilesFailFastWithoutReading) {
  // A FIFO named config.json / tokenizer.json must not block (issue 14: open blocked before the check).
  for (const char* victim : {"config.json", "tokenizer.json"}) {
    const std::string dir = edited_copy("mamba", [](json&, TensorMap&) {});
    fs::remove(fs::path(dir) / victim);
    ASSERT_EQ(::mkfifo((fs::path(dir) / victim).c_str(), 0600), 0);
    expect_load_error(dir, "regular file");
  }
}

TEST(Tokenizers, Gpt2VocabMergesFolderIsFound) {
  // A folder with GPT-2's vocab.json + merges.txt (no tokenizer.json) gets its tokenizer; here the
  // real GPT-2 vocabulary (50257 ids) is larger than the fixture's embedding: a clear error.
  const char* data = std::getenv("SSMLAB_DATA_DIR");
  if (!data) GTEST_SKIP() << "SSMLAB_DATA_DIR not set (scripts/test.sh sets it to ../shared/data)";
  const std::string dir = edited_copy("gpt2_inner", [](json&, TensorMap&) {});
  fs::remove(fs::path(dir) / "tokenizer.json");
  for (const char* f : {"vocab.json", "merges.txt"})
    fs::create_symlink(std::string(data) + "/tokenizers/gpt2/" + f, fs::path(dir) / f);
  expect_load_error(dir, "the tokenizer has 50257 ids");
}

namespace {
// 20 Trainer steps (AdamW, warm-up + cosine) on random next-token batches of the fixtures' vocabulary.
void train_20_steps(const sm::LanguageModel& m) {
  sm::TrainConfig tc;
  tc.steps = 20;
  tc.lr = 3e-3;
  tc.min_lr = 3e-4;
  tc.warmup = 2;
  tc.log_every = 10;
  tc.device = "cpu";
  ssmlab::CommonOptions o;
  o.program = "test_hf_models";
  o.quiet = true;
  auto batch = [](int64_t step) {
    auto gen = at::detail::createCPUGenerator(500 + step);
    auto x = torch::randint(0, 400, {4, 17}, gen, torch::kLong);
    return sm::Batch{x.narrow(1, 0, 16), x.narrow(1, 1, 16), {}};
  };
  ASSERT_TRUE(sm::Trainer(m, tc, nullptr).fit(batch, sm::lm_loss(m)).ok);
  m->eval();
}
}  // namespace

TEST(SavePretrained, RoundTripEveryFamilyAndTrainedModelTrains) {
  at::set_num_threads(1);
  auto mc = sm::ModelConfig();
  mc.vocab_size = 400;  // the fixtures' tokenizer fits
  mc.d_model = 16;
  mc.n_layer = 2;
  mc.n_head = 2;
  mc.d_state = 4;
  mc.headdim = 8;
  mc.chunk_size = 4;
  const auto tokens = torch::randint(0, 400, {2, 9}, torch::kLong);
  for (const auto& name : sm::model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(21);
    auto m = sm::make_model(name, mc);
    train_20_steps(m);  // a model the Trainer trained, as the round trip asks
    const fs::path dir = ssmlab::test::fresh_temp_dir("ssmlab_save_" + name);
    SaveOptions so;
    so.tokenizer_file = kFixtures + "/tokenizer.json";
    const std::string type = save_pretrained(*m, (dir / "m").string(), so);
    std::printf("%s -> model_type %s\n", name.c_str(), type.c_str());
    EXPECT_EQ(type.rfind("ssmlab_", 0) == 0, name == "T_nope" || name == "T_alibi" || name == "T_hard_alibi" || name == "lstm" ||
                                                name == "T_rope_moe");
    Pretrained p = load_pretrained((dir / "m").string());
    ASSERT_NE(p.tokenizer, nullptr);
    EXPECT_EQ(p.model->family(), name);
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(p.model->forward(tokens), m->forward(tokens)));
    // bf16 weights load too (and give nearly the same logits)
    so.dtype = torch::kBFloat16;
    save_pretrained(*m, (dir / "m").string(), so);  // replaces the folder atomically
    Pretrained pb = load_pretrained((dir / "m").string());
    EXPECT_LE((pb.model->forward(tokens) - m->forward(tokens)).abs().max().item<double>(), 0.1);
    EXPECT_FALSE(fs::exists(dir / ("m.tmp." + std::to_string(::getpid()))));
    ssmlab::test::remove_tree(dir);
  }
}

TEST(SavePretrained, HuggingFaceFixturesRoundTrip) {
  // GPT-2 (names and Conv1D transposes back), GPT-NeoX, Mamba-2 (untied): load, save, load again.
  at::set_num_threads(1);
  const auto tokens = torch::randint(0, 300, {2, 7}, torch::kLong);
  for (const char* name : {"gpt2", "gpt2_inner", "gpt_neox", "mamba2", "mamba_untied"}) {
    SCOPED_TRACE(name);
    Pretrained a = load_pretrained(kFixtures + "/" + name);
    const fs::path dir = ssmlab::test::fresh_temp_dir(std::string("ssmlab_rt_") + name);
    save_pretrained(*a.model, (dir / "m").string());
    Pretrained b = load_pretrained((dir / "m").string());
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(a.model->forward(tokens), b.model->forward(tokens)));
    ssmlab::test::remove_tree(dir);
  }
}

TEST(SavePretrained, LoadedCheckpointTrains) {
  // A fixture loaded from a Hugging Face folder fine-tunes: AdamW steps on a fixed batch cut the loss.
  at::set_num_threads(1);
  Pretrained p = load_pretrained(kFixtures + "/mamba");
  p.model->train();
  auto tokens = torch::randint(0, 300, {4, 16}, torch::kLong);
  torch::optim::AdamW opt(p.model->parameters(), torch::optim::AdamWOptions(3e-3));
  auto loss_of = [&] {
    auto logits = p.model->forward(tokens.narrow(1, 0, 15));
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), tokens.narrow(1, 1, 15).reshape({-1}));
  };
  const double first = loss_of().item<double>();
  for (int i = 0; i < 20; ++i) {
    opt.zero_grad();
    auto l = loss_of();
    l.backward();
    opt.step();
  }
  EXPECT_LT(loss_of().item<double>(), 0.8 * first);
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

// Issue 15: --quiet hides the summary but not the text; the summary goes to stderr; CRLF input
// loses its \r; stopping at the position limit (GPT-2 n_positions = 128 here) is said on stderr.
TEST(GenerateBinary, QuietStreamsTextSummaryOnStderrCrlfAndPositionLimit) {
  const std::string bin = std::string(SSMLAB_BIN_DIR) + "/generate";
  if (!fs::exists(bin)) GTEST_SKIP() << bin << " not built";
  const fs::path dir = ssmlab::test::fresh_temp_dir("generate_quiet");
  auto run = [&](const std::string& args, const std::string& input = "") {
    const std::string out = (dir / "out").string(), err = (dir / "err").string();
    const std::string cmd = (input.empty() ? "" : "printf '" + input + "' | ") + bin + " --model " + kFixtures +
                            "/gpt2 --ignore-eos --threads 1 --log none " + args + " >" + out + " 2>" + err;
    const int st = std::system(cmd.c_str());
    std::ifstream o(out), e(err);
    std::stringstream so, se;
    so << o.rdbuf();
    se << e.rdbuf();
    return std::make_tuple(WIFEXITED(st) ? WEXITSTATUS(st) : -1, so.str(), se.str());
  };
  auto [rc, out, err] = run("--prompt 'Hello world' --max-new-tokens 8");
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(out.rfind("Hello world", 0), 0u) << out;             // prompt echo, then the text
  EXPECT_EQ(out.find("tokens/s"), std::string::npos) << out;      // no summary on stdout
  EXPECT_NE(err.find("tokens/s"), std::string::npos) << err;
  const std::string text = out.substr(11);
  std::tie(rc, out, err) = run("--prompt 'Hello world' --max-new-tokens 8 --quiet");
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(out, text) << "--quiet prints the continuation alone";
  EXPECT_EQ(err, "");
  std::tie(rc, out, err) = run("--interactive --max-new-tokens 2", "Hello\\r\\nworld\\r\\n");  // echoes the prompts
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.rfind("Hello", 0), 0u) << out;
  std::tie(rc, out, err) = run("--prompt 'Hello world' --max-new-tokens 200 --quiet");
  EXPECT_EQ(rc, 0) << err;
  EXPECT_NE(err.find("position limit (128 tokens"), std::string::npos) << err;
  ssmlab::test::remove_tree(dir);
}

// With SSMLAB_EXPORT_DIR set (on the machine with transformers): trains a small model of every
// family for 20 Trainer steps, saves it with save_pretrained and writes its own logits
// as ssmlab_expected.json, for scripts/check_hf_export.py to compare against transformers.
TEST(SavePretrained, ExportsForTransformersCheck) {
  const char* out = std::getenv("SSMLAB_EXPORT_DIR");
  if (!out) GTEST_SKIP() << "SSMLAB_EXPORT_DIR not set (the transformers check runs on the GPU machine)";
  auto mc = sm::ModelConfig();
  mc.vocab_size = 400;
  mc.d_model = 32;
  mc.n_layer = 2;
  mc.n_head = 4;
  mc.rotary_pct = 0.25;  // head dim 8 -> 2 rotated dims
  mc.d_state = 8;
  mc.headdim = 16;
  mc.chunk_size = 4;
  Pretrained tok = load_pretrained(kFixtures + "/gpt_neox");
  const std::vector<std::string> texts = {"The state space model", "Hello world! The quick brown fox"};
  std::vector<std::string> names = sm::model_names();
  names.push_back("gpt2");  // the GPT-2 preset (learned positions, tanh GELU, tied head): saved as GPT2LMHeadModel
  for (const auto& name : names) {
    torch::manual_seed(31);
    sm::LanguageModel m = name == "gpt2"
                              ? sm::LanguageModel(std::make_shared<sm::TransformerLMImpl>(
                                    sm::TransformerOptions(32, 2, 4, 400)
                                        .pos(sm::PosEncoding::Learned)
                                        .max_position_embeddings(64)
                                        .activation(sm::Activation::GeluTanh)
                                        .tie_embeddings(true)))
                              : sm::make_model(name, mc);
    train_20_steps(m);
    SaveOptions so;
    so.tokenizer_file = kFixtures + "/tokenizer.json";
    const std::string dir = std::string(out) + "/" + name;
    save_pretrained(*m, dir, so);
    json expected = {{"prompts", json::array()}};
    torch::NoGradGuard ng;
    for (const auto& t : texts) {
      const auto ids = tok.tokenizer->encode(t);
      auto logits = m->forward(torch::tensor(ids, torch::kInt64).unsqueeze(0))[0].to(torch::kFloat32).contiguous();
      std::vector<std::vector<float>> rows_out;
      for (int64_t i = 0; i < logits.size(0); ++i)
        rows_out.emplace_back(logits[i].data_ptr<float>(), logits[i].data_ptr<float>() + logits.size(1));
      expected["prompts"].push_back({{"text", t}, {"ids", ids}, {"logits", rows_out}});
    }
    std::ofstream(dir + "/ssmlab_expected.json") << expected.dump();
  }
}

// Loading a ~100 MB checkpoint holds about one copy of the weights in host memory: the parameters,
// filled straight from the memory-mapped file whose pages are handed back as each tensor is copied
// (peak RSS growth < 1.5x the file; it was ~2.1x before the pages were released). The load runs in
// a fresh process (this binary, re-executed) so that its peak RSS is its own.
TEST(LoadMemory, PeakRssUnderOneAndAHalfCheckpoints) {
  if (const char* dir = std::getenv("SSMLAB_RSS_CHILD_DIR")) {  // the child: load and report
    struct rusage r0, r1;
    ::getrusage(RUSAGE_SELF, &r0);
    Pretrained p = load_pretrained(dir);
    ::getrusage(RUSAGE_SELF, &r1);
    std::printf("maxrss_growth_kb=%ld\n", r1.ru_maxrss - r0.ru_maxrss);
    return;
  }
  const fs::path dir = ssmlab::test::fresh_temp_dir("ssmlab_rss");
  {
    torch::manual_seed(1);
    sm::MambaLM m(sm::MambaOptions(512, 16, 400));  // 27.3M parameters: 109 MB in fp32
    save_pretrained(*m, (dir / "m").string());
  }
  const double file_kb = static_cast<double>(fs::file_size(dir / "m" / "model.safetensors")) / 1024.0;
  const std::string cmd = "SSMLAB_RSS_CHILD_DIR=" + (dir / "m").string() +
                          " /proc/" + std::to_string(::getpid()) + "/exe --gtest_filter=LoadMemory.* 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f)) out += buf;
  ::pclose(f);
  const auto at = out.find("maxrss_growth_kb=");
  ASSERT_NE(at, std::string::npos) << out;
  const double growth_kb = std::stod(out.substr(at + 17));
  std::printf("checkpoint %.1f MB, peak RSS growth while loading %.1f MB (%.2fx)\n", file_kb / 1024, growth_kb / 1024,
              growth_kb / file_kb);
  EXPECT_LT(growth_kb, 1.5 * file_kb);
  ssmlab::test::remove_tree(dir);
}

// export_logits writes the file scripts/check_hf_export.py reads; on the fixtures its logits are
// transformers' own (references.json), so the checker would pass them.
TEST(ExportLogitsBinary, MatchesTheTransformersReferences) {
  const std::string bin = std::string(SSMLAB_BIN_DIR) + "/export_logits";
  if (!fs::exists(bin)) GTEST_SKIP() << bin << " not built";
  const fs::path dir = ssmlab::test::fresh_temp_dir("export_logits");
  for (const char* m : {"gpt_neox", "mamba", "mamba2"}) {
    const json& ref = references()["models"][m]["prompts"][0];
    const fs::path out = dir / (std::string(m) + ".json");
    const std::string cmd = bin + " --quiet --model " + kFixtures + "/" + m + " --prompt '" + ref["text"].get<std::string>() +
                            "' --output-file " + out.string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(out);
    const json got = json::parse(in);
    ASSERT_EQ(got["prompts"].size(), 1u);
    EXPECT_EQ(got["prompts"][0]["ids"], ref["ids"]) << m;
    const auto a = rows(got["prompts"][0]["logits"]), b = rows(ref["logits"]);
    ASSERT_EQ(a.sizes(), b.sizes()) << m;
    EXPECT_LT((a - b).abs().max().item<double>(), kLogitTol) << m;
  }
  // a folder that is not a checkpoint: a clear failure, nothing written
  const fs::path none = dir / "none.json";
  EXPECT_NE(std::system((bin + " --quiet --model /nonexistent --output-file " + none.string() + " 2>/dev/null").c_str()), 0);
  EXPECT_FALSE(fs::exists(none));
  ssmlab::test::remove_tree(dir);
}
