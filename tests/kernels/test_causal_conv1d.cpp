// test_causal_conv1d.cpp — the causal depthwise conv1d + SiLU (kernels/causal_conv1d.h): the reference
// path against the formula written out by hand, and its input errors. (The CUDA kernel against the
// reference: test_scan_cuda.cpp.)
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include "kernels/causal_conv1d.h"

using namespace ssmlab::kernels;

TEST(CausalConv1d, ReferenceMatchesTheFormulaByHand) {
  torch::manual_seed(3);
  const int64_t Bt = 2, D = 3, L = 7, W = 4;
  auto x = torch::randn({Bt, D, L}, torch::kFloat64), w = torch::randn({D, W}, torch::kFloat64);
  auto b = torch::randn({D}, torch::kFloat64);
  auto got = causal_conv1d_silu(x, w, b);   // CPU: the reference path
  auto xa = x.accessor<double, 3>();
  auto wa = w.accessor<double, 2>();
  for (int64_t i = 0; i < Bt; ++i)
    for (int64_t d = 0; d < D; ++d)
      for (int64_t t = 0; t < L; ++t) {
        double acc = b[d].item<double>();
        for (int64_t k = 0; k < W; ++k) {
          const int64_t s = t - W + 1 + k;
          if (s >= 0) acc += wa[d][k] * xa[i][d][s];
        }
        const double want = acc / (1 + std::exp(-acc));
        EXPECT_NEAR(got[i][d][t].item<double>(), want, 1e-12) << i << "," << d << "," << t;
      }
  EXPECT_THROW(causal_conv1d_silu(x, torch::randn({D + 1, W}, torch::kFloat64), b), std::invalid_argument);
  EXPECT_THROW(causal_conv1d_silu(x, w, b, KernelImpl::Cuda), std::invalid_argument);  // CPU tensor
}

// The decode step (causal_conv1d_update): stepping it through a sequence from a zero state gives the full
// conv's outputs (fp64, W = 1..4, with and without bias, with and without SiLU), in place without autograd and as a new
// tensor under it, with strided x rows; bad shapes are clear errors.
TEST(CausalConv1dUpdate, StepsEqualTheFullConv) {
  torch::manual_seed(4);
  torch::NoGradGuard ng;
  const int64_t B = 2, D = 5, L = 9;
  for (int64_t W = 1; W <= 4; ++W)
    for (bool with_bias : {false, true})
      for (bool silu : {false, true}) {
      SCOPED_TRACE("W " + std::to_string(W) + (with_bias ? " bias" : "") + (silu ? " silu" : " linear"));
      auto o = torch::TensorOptions().dtype(torch::kFloat64);
      auto x = torch::randn({B, D, L}, o), w = torch::randn({D, W}, o);
      auto bias = with_bias ? torch::randn({D}, o) : torch::Tensor();
      // the full causal depthwise conv: W - 1 zeros on the left, one filter per channel
      auto conv = torch::nn::functional::conv1d(torch::nn::functional::pad(x, torch::nn::functional::PadFuncOptions({W - 1, 0})),
                                                w.unsqueeze(1), torch::nn::functional::Conv1dFuncOptions().bias(bias).groups(D));
      auto want = silu ? ssmlab::kernels::causal_conv1d_silu_ref(x, w, bias) : conv;  // (B, D, L)
      if (silu) EXPECT_LE((want - torch::silu(conv)).abs().max().item<double>(), 1e-12);
      auto state = torch::zeros({B, D, W}, o);
      const auto same = state;
      for (int64_t t = 0; t < L; ++t) {
        auto got = ssmlab::kernels::causal_conv1d_update(state, x.select(2, t), w, bias, silu);
        EXPECT_LE((got - want.select(2, t)).abs().max().item<double>(), 1e-12) << "t " << t;
      }
      EXPECT_TRUE(state.is_same(same)) << "updated in place";
      EXPECT_TRUE(torch::equal(state, x.narrow(2, L - W, W))) << "the state holds the last W inputs";
    }
}

TEST(CausalConv1dUpdate, AutogradStridedRowsAndErrors) {
  torch::manual_seed(5);
  const int64_t B = 3, D = 4, W = 4;
  auto w = torch::randn({D, W});
  auto xz = torch::randn({B, 2 * D});
  auto x = xz.narrow(1, 0, D);  // strided rows, as in Mamba's step
  auto s1 = torch::randn({B, D, W}), s2 = s1.clone();
  {
    torch::NoGradGuard ng;
    auto a = ssmlab::kernels::causal_conv1d_update(s1, x, w, {});
    auto b = ssmlab::kernels::causal_conv1d_update(s2, x.contiguous(), w, {});
    EXPECT_TRUE(torch::equal(a, b));
    EXPECT_TRUE(torch::equal(s1, s2));
  }
  auto xg = x.clone().set_requires_grad(true);
  auto s = s1.clone();
  const auto kept = s;
  auto y = ssmlab::kernels::causal_conv1d_update(s, xg, w, {});
  EXPECT_FALSE(s.is_same(kept));
  EXPECT_TRUE(torch::equal(kept, s1)) << "the old state is untouched under autograd";
  y.sum().backward();
  ASSERT_TRUE(xg.grad().defined());
  EXPECT_GT(xg.grad().abs().sum().item<double>(), 0.0);
  torch::NoGradGuard ng;
  EXPECT_THROW(ssmlab::kernels::causal_conv1d_update(s1, torch::randn({B, D + 1}), w, {}), std::invalid_argument);
  EXPECT_THROW(ssmlab::kernels::causal_conv1d_update(s1, x, torch::randn({D, W + 1}), {}), std::invalid_argument);
  EXPECT_THROW(ssmlab::kernels::causal_conv1d_update(s1, x, w, torch::randn({D + 1})), std::invalid_argument);
  auto flat = torch::zeros({B, D});
  EXPECT_THROW(ssmlab::kernels::causal_conv1d_update(flat, x, w, {}), std::invalid_argument);
}
