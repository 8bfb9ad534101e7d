// test_smt_model.cpp — the Stride Memory Transformer (models/smt.h) at tiny sizes, CPU, fp32:
// the write count, the window contents, sequential == chunked, gradient flow, TBPTT detachment,
// option checks.
#include <gtest/gtest.h>

#include "models/smt.h"

namespace sm = ssmlab::models;

namespace {
// D 16, 2 + 2 layers, n = 3, m = 6, stride 2 (= m / 3: no warning), no dropout unless asked.
sm::SmtOptions tiny(int64_t n = 3, int64_t m = 6, int64_t stride = 2) {
  sm::SmtOptions o(sm::gpt2_options(16, 2, 2, 37, 64), sm::MambaOptions(16, 2, 1).d_state(4));
  return o.n_ssm_outputs(n).m_input_tokens(m).stride(stride).dropout(0.0);
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

torch::Tensor ce(const torch::Tensor& logits, const torch::Tensor& tokens) {  // next-token loss
  const int64_t L = tokens.size(1);
  return torch::nn::functional::cross_entropy(logits.narrow(1, 0, L - 1).reshape({-1, logits.size(-1)}),
                                              tokens.narrow(1, 1, L - 1).reshape({-1}));
}

bool nonzero_grad(const torch::Tensor& p) { return p.grad().defined() && p.grad().abs().sum().item<double>() > 0; }
}  // namespace

TEST(SmtCounts, WriteCountFormula) {
  EXPECT_EQ(sm::smt_write_count(1024, 16), 63);  // the original's 1024 tokens, stride 16
  for (int64_t s = 1; s <= 9; ++s)
    for (int64_t L = 0; L <= 70; ++L) {
      int64_t brute = 0;
      for (int64_t t = 0; t < L; ++t) brute += t > 0 && t % s == 0;
      EXPECT_EQ(sm::smt_write_count(L, s), brute) << "L " << L << " stride " << s;
    }
}

TEST(SmtCounts, WindowAtStepT) {
  const auto o = tiny(3, 6, 2);
  auto at = [&](int64_t t) { return sm::smt_window_at(t, o); };
  using V = std::vector<int64_t>;
  EXPECT_EQ(at(0).writes, V{});       EXPECT_EQ(at(0).tokens, (V{0}));
  EXPECT_EQ(at(1).writes, V{});       EXPECT_EQ(at(1).tokens, (V{0, 1}));
  EXPECT_EQ(at(2).writes, V{});       EXPECT_EQ(at(2).tokens, (V{0, 1, 2}));  // its own write comes after
  EXPECT_EQ(at(3).writes, (V{0}));    EXPECT_EQ(at(3).tokens, (V{0, 1, 2, 3}));
  EXPECT_EQ(at(5).writes, (V{0, 1})); EXPECT_EQ(at(5).tokens, (V{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(at(6).writes, (V{0, 1})); EXPECT_EQ(at(6).tokens, (V{1, 2, 3, 4, 5, 6}));  // m = 6 full
  EXPECT_EQ(at(9).writes, (V{1, 2, 3})); EXPECT_EQ(at(9).tokens, (V{4, 5, 6, 7, 8, 9}));  // n = 3 full
  const auto none = sm::smt_window_at(9, tiny(0, 6, 2));  // the window-only ablation
  EXPECT_TRUE(none.writes.empty());
  EXPECT_EQ(none.tokens.size(), 6u);
}

TEST(SmtModel, SequentialEqualsChunkedInEval) {
  at::set_num_threads(1);
  torch::manual_seed(0);
  sm::Smt model(tiny().dropout(0.1));
  model->eval();
  torch::NoGradGuard ng;
  auto tokens = torch::randint(0, 37, {2, 23}, torch::kLong);
  auto seq = model->forward(tokens, sm::SmtMode::Sequential);
  EXPECT_EQ(seq.logits.sizes(), (std::vector<int64_t>{2, 23, 37}));
  EXPECT_EQ(seq.aux.n_writes, sm::smt_write_count(23, 2));
  EXPECT_GT(seq.aux.memory_norm, 0.0);
  for (int64_t chunk : {0, 1, 5, 7, 23}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    auto chk = model->forward(tokens, sm::SmtMode::Chunked, chunk);
    const double d = max_diff(seq.logits, chk.logits);
    std::cout << "chunk " << chunk << ": max |logits diff| " << d << "\n";
    EXPECT_LE(d, 1e-5);
    EXPECT_NEAR(ce(seq.logits, tokens).item<double>(), ce(chk.logits, tokens).item<double>(), 1e-6);
    EXPECT_EQ(chk.aux.n_writes, seq.aux.n_writes);
    EXPECT_NEAR(chk.aux.memory_norm, seq.aux.memory_norm, 1e-5);
  }
  // Memory-less ablation: the same equality, and no writes.
  sm::Smt window(tiny(0, 6, 2));
  window->eval();
  auto a = window->forward(tokens, sm::SmtMode::Sequential), b = window->forward(tokens, sm::SmtMode::Chunked, 5);
  EXPECT_LE(max_diff(a.logits, b.logits), 1e-5);
  EXPECT_EQ(b.aux.n_writes, 0);
}

TEST(SmtModel, MemoryChangesLaterLogitsOnly) {
  // The first write happens after the logits of t = stride: logits up to and including it cannot
  // depend on the memory, later ones do.
  torch::manual_seed(1);
  sm::Smt model(tiny());
  model->eval();
  torch::NoGradGuard ng;
  auto tokens = torch::randint(0, 37, {1, 12}, torch::kLong);
  auto before = model->forward(tokens).logits;
  for (auto& p : model->memory->parameters()) p.add_(torch::randn_like(p) * 0.5);
  auto after = model->forward(tokens).logits;
  EXPECT_EQ(max_diff(before.narrow(1, 0, 3), after.narrow(1, 0, 3)), 0.0);  // t = 0, 1, 2
  EXPECT_GT(max_diff(before.narrow(1, 3, 9), after.narrow(1, 3, 9)), 1e-6);
}

TEST(SmtModel, GradientsReachPoolingMemoryAndTransformer) {
  torch::manual_seed(2);
  sm::Smt model(tiny().dropout(0.1));
  model->train();
  auto tokens = torch::randint(0, 37, {2, 16}, torch::kLong);
  ce(model->forward(tokens, sm::SmtMode::Chunked, 8).logits, tokens).backward();
  EXPECT_TRUE(nonzero_grad(model->pool->query));
  EXPECT_TRUE(nonzero_grad(model->pool->key->weight));
  for (const auto& p : model->memory->named_parameters()) {
    if (p.key().find("embeddings") != std::string::npos) {
      EXPECT_FALSE(p.value().requires_grad()) << p.key();  // the memory never reads tokens
      continue;
    }
    EXPECT_TRUE(nonzero_grad(p.value())) << p.key();
  }
  EXPECT_TRUE(nonzero_grad(model->transformer->gpt_neox->embed_in->weight));
  EXPECT_TRUE(nonzero_grad(model->transformer->gpt_neox->embed_pos->weight));
  const auto counts = model->param_counts();
  EXPECT_EQ(counts["total"].get<int64_t>(),
            counts["transformer"].get<int64_t>() + counts["memory"].get<int64_t>() + counts["pool"].get<int64_t>());
  EXPECT_EQ(counts["pool"].get<int64_t>(), 16 + 16 * 16);
}

TEST(SmtModel, NoGradientCrossesChunkBoundaries) {
  // stride 4, L = 10: writes at t = 4 and 8. With chunks of 9 the second chunk [9, 10) has no write,
  // so the loss of its logits reaches the pooling and the memory only across the boundary.
  auto run = [](int64_t chunk) {
    torch::manual_seed(3);
    sm::Smt model(tiny(3, 12, 4));
    model->train();
    auto tokens = torch::randint(0, 37, {2, 10}, torch::kLong);
    model->forward_chunks(tokens, chunk, [&](const torch::Tensor& logits, int64_t t0) {
      const int64_t c = 9 - t0;  // the logits of t = 9 within this chunk
      if (c >= logits.size(1)) return;
      logits.select(1, c).logsumexp(-1).sum().backward();
    });
    return std::make_pair(nonzero_grad(model->pool->query),
                          nonzero_grad(model->memory->backbone->layers[0]->as<sm::MambaLayerImpl>()->mixer->in_proj->weight));
  };
  const auto whole = run(0), split = run(9);
  EXPECT_TRUE(whole.first && whole.second) << "one chunk: the loss at t = 9 reaches the writes at 4 and 8";
  EXPECT_FALSE(split.first) << "chunks of 9: the pooling query got a gradient across the boundary";
  EXPECT_FALSE(split.second) << "chunks of 9: the memory got a gradient across the boundary";
}

TEST(SmtOptions, StrideAboveWindowRejectedOtherRatiosWarn) {
  try {
    tiny(3, 6, 7).validate();
    FAIL() << "stride 7 > m 6 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("stride 7 > m_input_tokens 6"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sm::Smt{tiny(3, 6, 7)}, std::invalid_argument);
  EXPECT_TRUE(tiny(3, 6, 2).warnings().empty());
  EXPECT_TRUE(sm::SmtOptions().warnings().empty());  // the original's 15 / 50 / 16
  const auto w = tiny(3, 6, 3).warnings();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("stride 3 != m_input_tokens / 3 = 2"), std::string::npos) << w[0];
  testing::internal::CaptureStderr();
  sm::Smt warned(tiny(3, 6, 3));
  EXPECT_NE(testing::internal::GetCapturedStderr().find("warning: SMT: stride 3"), std::string::npos);
  // the memory must share the transformer's width
  sm::SmtOptions bad(sm::gpt2_options(16, 1, 2, 37, 64), sm::MambaOptions(8, 1, 1));
  EXPECT_THROW(bad.validate(), std::invalid_argument);
}
