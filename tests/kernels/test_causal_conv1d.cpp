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
