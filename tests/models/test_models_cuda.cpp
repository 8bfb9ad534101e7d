// test_models_cuda.cpp — every model family on the GPU (labels models;gpu, skipped without CUDA):
// with the same initial weights the CUDA forward (fp32, TF32 off) equals the CPU forward, and AdamW
// steps with bf16 autocast reduce the loss on a fixed batch, as the CPU test does in fp32.
#include <gtest/gtest.h>

#include <ATen/Context.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "models/generation.h"
#include "models/registry.h"
#include "models/torch_util.h"
#include "tests/models/tiny_models.h"

namespace sm = ssmlab::models;

TEST(EveryModelCuda, SameForwardAsCpuAndLearnsWithBf16Autocast) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
  const torch::Device gpu(torch::kCUDA, 0);
  const auto cfg = ssmlab::test::tiny_model_config();
  for (const auto& name : sm::model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(0);
    auto on_cpu = sm::make_model(name, cfg);
    torch::manual_seed(0);
    auto on_gpu = sm::make_model(name, cfg);  // same initial weights (initialised on the CPU)
    on_gpu->to(gpu);
    auto x = torch::randint(0, 11, {4, 12}, torch::kLong);        // (B, L)
    auto y = (x * 3 + 1).remainder(11);                           // a token-wise map every model can learn
    {
      torch::NoGradGuard ng;
      on_cpu->eval();
      on_gpu->eval();
      auto ref = on_cpu->forward(x);                              // (B, L, V)
      auto got = on_gpu->forward(x.to(gpu)).cpu();
      ASSERT_EQ(got.sizes(), ref.sizes());
      const double err = (got - ref).abs().max().item<double>();
      const double scale = std::max(1.0, ref.abs().max().item<double>());
      EXPECT_LE(err, 1e-4 * scale) << name << ": max |cuda - cpu| = " << err;
    }
    on_gpu->train();
    torch::optim::AdamW opt(on_gpu->parameters(), torch::optim::AdamWOptions(1e-2));
    auto xg = x.to(gpu), yg = y.to(gpu);
    double first = 0, last = 0;
    for (int s = 0; s < 30; ++s) {
      opt.zero_grad();
      torch::Tensor loss;
      {
        sm::AutocastGuard bf16(gpu, true);
        auto logits = on_gpu->forward(xg);
        loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32),
                                                    yg.reshape({-1}));
      }
      loss.backward();
      opt.step();
      (s == 0 ? first : last) = loss.item<double>();
    }
    EXPECT_TRUE(std::isfinite(last)) << name;
    EXPECT_LT(last, 0.8 * first) << name << ": " << first << " -> " << last;
  }
}

// models::generate on CUDA: greedy fp32 continuations equal the CPU ones for every family (a batch of
// prompts of different lengths, left-padded), and bf16 generation runs and stays finite.
TEST(EveryModelCuda, GenerationEqualsCpuAndBf16Runs) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
  const torch::Device gpu(torch::kCUDA, 0);
  auto cfg = ssmlab::test::tiny_model_config();
  cfg.n_head = 2;
  const std::vector<std::vector<int64_t>> prompts = {{1, 2, 3, 4, 5}, {7}, {3, 9, 2}};
  for (const auto& name : sm::model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(3);
    auto m = sm::make_model(name, cfg);
    { torch::NoGradGuard ng; for (auto& p : m->parameters()) p.mul_(3.0); }  // clear argmax margins
    sm::GenerationOptions g;
    g.max_new_tokens = 8;
    const auto cpu = sm::generate(*m, prompts, g).tokens;
    m->to(gpu);
    EXPECT_EQ(sm::generate(*m, prompts, g).tokens, cpu);
    m->to(torch::kBFloat16);
    auto bf = sm::generate(*m, prompts, g);
    EXPECT_EQ(bf.tokens.size(), prompts.size());
    for (const auto& t : bf.tokens) EXPECT_EQ(t.size(), 8u);
  }
}

// The CUDA-graph decode (GenerationOptions::cuda_graph): for the families whose step is graph-safe
// (Mamba, Mamba-2) one captured step is replayed for every later one; the tokens equal the eager loop's
// exactly (greedy and sampled, fp32 and bf16, left-padded prompts, many replays), the result says which
// ran, and the other families (and runs of fewer than 4 decode steps) stay eager.
TEST(EveryModelCuda, CudaGraphDecodeGivesTheEagerTokens) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device gpu(torch::kCUDA, 0);
  auto cfg = ssmlab::test::tiny_model_config();
  cfg.n_head = 2;
  const std::vector<std::vector<int64_t>> prompts = {{1, 2, 3, 4, 5}, {7}, {3, 9, 2}, {4, 4}};
  for (const auto& name : sm::model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(5);
    auto m = sm::make_model(name, cfg);
    { torch::NoGradGuard ng; for (auto& p : m->parameters()) p.mul_(3.0); }
    m->to(gpu);
    const bool safe = m->decode_step_graph_safe();
    EXPECT_EQ(safe, name == "mamba" || name == "mamba2") << "which families capture their step";
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      m->to(dtype);
      for (double temperature : {0.0, 0.9}) {
        sm::GenerationOptions g;
        g.max_new_tokens = 40;
        g.temperature = temperature;
        g.top_k = 6;
        g.seed = 11;
        g.cuda_graph = false;
        const auto eager = sm::generate(*m, prompts, g);
        g.cuda_graph = true;
        const auto graphed = sm::generate(*m, prompts, g);
        EXPECT_FALSE(eager.cuda_graph);
        EXPECT_EQ(graphed.cuda_graph, safe);
        EXPECT_EQ(graphed.tokens, eager.tokens) << "temperature " << temperature << ", dtype " << c10::toString(dtype);
        EXPECT_EQ(graphed.decode_steps, eager.decode_steps);
        g.max_new_tokens = 4;  // 3 decode steps: not worth a capture
        EXPECT_FALSE(sm::generate(*m, prompts, g).cuda_graph);
      }
    }
  }
}
