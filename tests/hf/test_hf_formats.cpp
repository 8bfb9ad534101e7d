// Torch-free tests of hf/: safetensors validation (hostile files), config.json parsing, and the
// byte-level BPE tokenizer against ids recorded from Hugging Face `tokenizers`
// (tests/fixtures/hf/references.json, made by scripts/make_hf_fixtures.py).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "ssmlab/hf/config.h"
#include "ssmlab/hf/safetensors.h"
#include "ssmlab/hf/tokenizer.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ssmlab::hf;

namespace {

const std::string kFixtures = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/hf";

json references() {
  std::ifstream in(kFixtures + "/references.json");
  EXPECT_TRUE(in.good()) << "missing " << kFixtures << "/references.json";
  json j;
  in >> j;
  return j;
}

std::vector<uint8_t> f32_bytes(std::vector<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// A valid file: a (2,3) F32, b (4) I64, c () BF16 scalar.
std::vector<uint8_t> valid_file() {
  std::vector<RawTensor> t;
  t.push_back({"a", DType::F32, {2, 3}, f32_bytes({1, 2, 3, 4, 5, 6})});
  t.push_back({"b", DType::I64, {4}, std::vector<uint8_t>(32, 7)});
  t.push_back({"c", DType::BF16, {}, {0x80, 0x3F}});
  return encode_safetensors(t, {{"format", "pt"}});
}

// Builds a file from a raw header string and a data buffer size.
std::vector<uint8_t> with_header(const std::string& header, std::size_t data_bytes, uint64_t claimed_len = 0) {
  std::vector<uint8_t> out(8);
  const uint64_t n = claimed_len ? claimed_len : header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

void expect_error(const std::vector<uint8_t>& bytes, const std::string& needle) {
  try {
    SafetensorsFile::from_bytes(bytes, "hostile.safetensors");
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
    EXPECT_NE(std::string(e.what()).find("hostile.safetensors"), std::string::npos) << "message names the file";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------
TEST(Safetensors, ReadsValidFile) {
  auto f = SafetensorsFile::from_bytes(valid_file(), "ok");
  ASSERT_EQ(f.tensors().size(), 3u);
  const TensorView* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  float v[6];
  std::memcpy(v, a->data, 24);
  EXPECT_EQ(v[5], 6.0f);
  EXPECT_EQ(f.find("c")->nbytes(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("nope"), nullptr);
}

TEST(Safetensors, OpensThroughMmap) {
  const fs::path p = fs::temp_directory_path() / ("ssmlab_hf_test_" + std::to_string(::getpid()) + ".safetensors");
  auto bytes = valid_file();
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  auto f = SafetensorsFile::open(p.string());
  EXPECT_EQ(f.find("b")->numel(), 4);
  fs::remove(p);
  EXPECT_THROW(SafetensorsFile::open((fs::temp_directory_path() / "ssmlab_no_such_file").string()), Error);
}

TEST(Safetensors, RejectsHostileHeaders) {
  expect_error({1, 2, 3}, "shorter than the 8-byte");
  expect_error(with_header("{}", 0, 1000), "runs past the end of the file");
  expect_error(with_header("{}", 0, uint64_t(1) << 62), "exceeds the limit");
  expect_error(with_header("{\"a\": ", 0), "not valid JSON");
  expect_error(with_header("[1,2]", 0), "does not start with '{'");
  expect_error(with_header(R"({"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16), "unsupported dtype 'F128'");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "shape x dtype size = 12");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "outside the data buffer");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "begin > end");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "negative");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}})", 8),
               "overflows");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                           12),
               "overlap");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[2]}})", 8), "missing \"data_offsets\"");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8), "data_offsets must be");
  expect_error(with_header(R"({"__metadata__":{"k":1}})", 0), "__metadata__['k'] is not a string");
  expect_error(with_header(R"({"a":7})", 0), "entry is not an object");
}

TEST(Safetensors, TruncationAndBitFlipsNeverCrash) {
  const auto good = valid_file();
  int errors = 0;
  for (std::size_t len = 0; len < good.size(); ++len) {  // every truncation is an error
    std::vector<uint8_t> cut(good.begin(), good.begin() + len);
    try {
      SafetensorsFile::from_bytes(cut, "cut");
      ADD_FAILURE() << "truncated to " << len << " bytes but accepted";
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_EQ(errors, static_cast<int>(good.size()));
  std::mt19937 rng(1);
  for (int trial = 0; trial < 3000; ++trial) {  // random corruption: parse or hf::Error, nothing else
    auto bad = good;
    const int flips = 1 + trial % 4;
    for (int k = 0; k < flips; ++k) bad[rng() % bad.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    try {
      auto f = SafetensorsFile::from_bytes(bad, "flip");
      for (const auto& t : f.tensors()) {
        ASSERT_LE(t.end, bad.size());
        ASSERT_EQ(t.nbytes(), static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype));
      }
    } catch (const Error&) {
    }
  }
}

TEST(Safetensors, ShardedIndexOfFixture) {
  auto s = ShardedSafetensors::open(kFixtures + "/gpt2/model.safetensors.index.json");
  EXPECT_EQ(s.shards().size(), 3u);
  EXPECT_NE(s.tensors().count("transformer.wte.weight"), 0u);
  // hostile index: path outside the folder, a listed tensor that its shard lacks
  const fs::path dir = ssmlab::test::fresh_temp_dir("hf_idx");
  fs::copy_file(kFixtures + "/gpt2/model-00001-of-00003.safetensors", dir / "s1.safetensors",
                fs::copy_options::overwrite_existing);
  std::ofstream(dir / "a.json") << R"({"weight_map": {"x": "../s1.safetensors"}})";
  EXPECT_THROW(ShardedSafetensors::open((dir / "a.json").string()), Error);
  std::ofstream(dir / "b.json") << R"({"weight_map": {"not.there": "s1.safetensors"}})";
  try {
    ShardedSafetensors::open((dir / "b.json").string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not.there"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "c.json") << R"({"nothing": 1})";
  EXPECT_THROW(ShardedSafetensors::open((dir / "c.json").string()), Error);
  ssmlab::test::remove_tree(dir);
}

// ---------------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------------
TEST(Config, FixtureConfigs) {
  auto neox = load_config(kFixtures + "/gpt_neox");
  EXPECT_EQ(neox.arch, Arch::GPTNeoX);
  EXPECT_EQ(neox.neox.rotary_ndims(), 8);  // head 16, partial_rotary_factor 0.5
  EXPECT_TRUE(neox.neox.parallel_residual);
  auto gpt2 = load_config(kFixtures + "/gpt2");
  EXPECT_EQ(gpt2.arch, Arch::GPT2);
  EXPECT_EQ(gpt2.gpt2.n_inner, 256);
  auto mamba = load_config(kFixtures + "/mamba");
  EXPECT_EQ(mamba.mamba.d_inner, 128);
  EXPECT_EQ(mamba.mamba.dt_rank, 4);
  EXPECT_FALSE(mamba.mamba.original_layout);
  auto orig = load_config(kFixtures + "/mamba_orig");
  EXPECT_TRUE(orig.mamba.original_layout);
  EXPECT_EQ(orig.mamba.vocab_size, 400);  // 397 padded to a multiple of 8
  EXPECT_EQ(orig.mamba.dt_rank, 4);
  EXPECT_EQ(orig.mamba.d_inner, 128);
}

TEST(Config, PythiaStyleKeys) {
  json j = json::parse(R"({"architectures":["GPTNeoXForCausalLM"],"bos_token_id":0,"eos_token_id":0,
    "hidden_act":"gelu","hidden_size":768,"initializer_range":0.02,"intermediate_size":3072,
    "layer_norm_eps":1e-05,"max_position_embeddings":2048,"model_type":"gpt_neox","num_attention_heads":12,
    "num_hidden_layers":12,"rotary_emb_base":10000,"rotary_pct":0.25,"tie_word_embeddings":false,
    "torch_dtype":"float16","transformers_version":"4.24.0","use_cache":true,"use_parallel_residual":true,
    "vocab_size":50304})");
  auto c = parse_config(j);
  EXPECT_EQ(c.neox.rotary_ndims(), 16);
  EXPECT_EQ(c.eos_token_id, 0);
}

namespace {
void expect_config_error(const std::string& text, const std::string& needle) {
  try {
    parse_config(json::parse(text));
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}
}  // namespace

TEST(Config, BadConfigsGiveClearErrors) {
  const std::string neox = R"("model_type":"gpt_neox","vocab_size":100,"hidden_size":64,"num_hidden_layers":2,)";
  expect_config_error(R"({"model_type":"llama"})", "model_type \"llama\" is not supported");
  expect_config_error(R"({"hidden_size":3})", "no \"model_type\"");
  expect_config_error("{" + neox + R"("num_attention_heads":5})", "not divisible");
  expect_config_error("{" + neox + R"("num_attention_heads":4,"frobnicate":1})", "unknown keys: frobnicate");
  expect_config_error("{" + neox + R"("num_attention_heads":"4"})", "must be an integer");
  expect_config_error("{" + neox + R"("num_attention_heads":4,"rope_scaling":{"type":"linear","factor":2}})",
                      "only \"default\" RoPE");
  expect_config_error("{" + neox + R"("num_attention_heads":4,"hidden_act":"swish_glu"})", "activation");
  expect_config_error(R"({"model_type":"gpt_neox","hidden_size":64})", "missing required key \"vocab_size\"");
  expect_config_error(R"({"model_type":"gpt2","vocab_size":10,"n_embd":8,"n_layer":1,"n_head":2,
                          "scale_attn_by_inverse_layer_idx":true})",
                      "scale_attn_by_inverse_layer_idx");
  expect_config_error(R"({"d_model":64,"n_layer":2,"vocab_size":100,"ssm_cfg":{"layer":"Mamba2"}})", "Mamba1");
  expect_config_error(R"({"d_model":64,"n_layer":2,"vocab_size":100,"rms_norm":false})", "rms_norm");
  expect_config_error(R"({"d_model":64,"n_layer":0,"vocab_size":100})", "\"n_layer\" must be >= 1");
  expect_config_error(R"({"model_type":"mamba","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,
                          "intermediate_size":7})",
                      "intermediate_size");
  // ssmlab_moe_transformer: n_experts and top_k required and consistent; a dense folder has neither
  const std::string moe = R"("model_type":"ssmlab_moe_transformer","vocab_size":10,"d_model":8,"n_layer":1,"n_head":2,)";
  expect_config_error("{" + moe + R"("n_experts":2,"top_k":3})", "top_k 3 is larger than n_experts 2");
  expect_config_error("{" + moe + R"("top_k":1})", "missing required key \"n_experts\"");
  expect_config_error(R"({"model_type":"ssmlab_transformer","vocab_size":10,"d_model":8,"n_layer":1,"n_head":2,
                          "n_experts":2})",
                      "unknown keys: n_experts");
  EXPECT_EQ(parse_config(json::parse("{" + moe + R"("n_experts":4,"top_k":2})")).arch, Arch::SsmlabMoeTransformer);
  // unknown keys can be allowed explicitly
  ConfigOptions allow;
  allow.allow_unknown_keys = true;
  auto c = parse_config(json::parse("{" + neox + R"("num_attention_heads":4,"frobnicate":1})"), allow);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("frobnicate"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// tokenizer
// ---------------------------------------------------------------------------------------------
TEST(Tokenizer, Gpt2SplitPattern) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Tokenizer::split_gpt2("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(Tokenizer::split_gpt2("I'm don't WE'RE"), (V{"I", "'m", " don", "'t", " WE", "'", "RE"}));
  EXPECT_EQ(Tokenizer::split_gpt2("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(Tokenizer::split_gpt2("a\n\nb  "), (V{"a", "\n", "\n", "b", "  "}));  // \s+(?!\S) then \s+
  EXPECT_EQ(Tokenizer::split_gpt2("x 123.5!!"), (V{"x", " 123", ".", "5", "!!"}));
  EXPECT_EQ(Tokenizer::split_gpt2("naïve 日本"), (V{"naïve", " 日本"}));
  EXPECT_EQ(Tokenizer::split_gpt2(""), V{});
}

TEST(Tokenizer, MatchesHuggingFaceTokenizers) {
  const json refs = references();
  auto tk = Tokenizer::from_file(kFixtures + "/tokenizer.json");
  EXPECT_EQ(tk.vocab_size(), refs["tokenizer"]["vocab_size"].get<int64_t>());
  int checked = 0;
  for (const auto& c : refs["tokenizer"]["cases"]) {
    const std::string text = c["text"];
    const auto want = c["ids"].get<std::vector<int64_t>>();
    const auto got = tk.encode(text);
    EXPECT_EQ(got, want) << "text: " << text;
    EXPECT_EQ(tk.decode(want), c["decoded"].get<std::string>()) << "text: " << text;
    EXPECT_EQ(tk.decode(want, /*skip_special_tokens=*/true), c["decoded_skip_special"].get<std::string>());
    ++checked;
  }
  EXPECT_GE(checked, 10);
  for (const auto& [name, m] : refs["models"].items())
    for (const auto& p : m["prompts"])
      EXPECT_EQ(tk.encode(p["text"].get<std::string>()), p["ids"].get<std::vector<int64_t>>()) << name;
}

TEST(Tokenizer, DecodeIsLossyUtf8AndRejectsBadIds) {
  auto tk = Tokenizer::from_file(kFixtures);  // a folder holding tokenizer.json
  const auto space = tk.token_to_id("\xC4\xA0");  // U+0120 stands for byte 0x20
  ASSERT_TRUE(space.has_value());
  EXPECT_EQ(tk.decode({*space}), " ");
  const auto b80 = tk.token_to_id("\xC4\xA2");  // U+0122 stands for byte 0x80, a lone continuation byte
  ASSERT_TRUE(b80.has_value());
  EXPECT_EQ(tk.decode({*b80}), "\xEF\xBF\xBD");  // U+FFFD, as from_utf8_lossy
  EXPECT_EQ(tk.decode({*b80, *space}), "\xEF\xBF\xBD ");
  EXPECT_EQ(tk.decode({*space, 123456, *space}), "  ");  // ids without a token are skipped
  EXPECT_THROW(Tokenizer::from_json("{\"model\": {\"type\": \"Unigram\"}}"), Error);
  EXPECT_THROW(Tokenizer::from_json("not json"), Error);
  // invalid UTF-8 input is still encoded byte by byte and decodes back lossily
  const auto ids = tk.encode(std::string("a\xFF" "b"));
  EXPECT_EQ(tk.decode(ids), "a\xEF\xBF\xBD" "b");
}

TEST(Tokenizer, PrefixSpaceTemplateAndMergeOrder) {
  // hand-made byte-level BPE: prefix space, a BOS template, merges applied by rank
  const std::string j = R"({
    "added_tokens": [{"id": 5, "content": "<s>", "special": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [5], "tokens": ["<s>"]}}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120ab": 4, "<s>": 5},
              "merges": ["a b", "\u0120 ab"]}})";
  auto tk = Tokenizer::from_json(j);
  EXPECT_EQ(tk.encode("ab"), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(tk.encode("ab", /*add_special_tokens=*/false), (std::vector<int64_t>{4}));
  EXPECT_EQ(tk.encode("ba", false), (std::vector<int64_t>{3, 1, 0}));
  EXPECT_EQ(tk.decode({5, 4}), "<s> ab");
  EXPECT_EQ(tk.decode({5, 4}, /*skip_special_tokens=*/true), " ab");
  // merges must name vocabulary tokens
  std::string bad = j;
  bad.replace(bad.find("\"a b\""), 5, "\"a x\"");
  EXPECT_THROW(Tokenizer::from_json(bad), Error);
}
