// test_layout_linear.cpp — layout_linear (the batched-GEMM projection between (B, L, C) and (B, C, L),
// models/layout_linear.h) against its twin layout_linear_ref (F::linear on transposed views): values and
// the gradients of x, weight and bias in fp64, every pair of layouts, batch 1, a strided input (a channel
// slice, as the Mamba mixer passes), no bias; on a GPU also under bf16 autocast against the fp32 twin.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "models/layout_linear.h"
#include "models/torch_util.h"

namespace sm = ssmlab::models;
using sm::Layout;

namespace {

struct Grads {
  torch::Tensor y, dx, dw, db;
};

// y and the gradients of sum(y * probe) with respect to x, w and b.
template <class F>
Grads run(F f, const torch::Tensor& x0, Layout in, const torch::Tensor& w0, const torch::Tensor& b0, Layout out,
          const torch::Tensor& probe) {
  auto x = x0.detach().clone().requires_grad_(true);
  auto w = w0.detach().clone().requires_grad_(true);
  auto b = b0.defined() ? b0.detach().clone().requires_grad_(true) : torch::Tensor();
  auto y = f(x, in, w, b, out);
  (y.to(probe.scalar_type()) * probe).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.defined() ? b.grad() : torch::Tensor()};
}

double rel(const torch::Tensor& got, const torch::Tensor& ref) {
  return (got.to(torch::kDouble) - ref.to(torch::kDouble)).abs().max().item<double>() /
         std::max(1e-12, ref.to(torch::kDouble).abs().max().item<double>());
}

torch::Tensor make_x(int64_t B, int64_t C, int64_t L, Layout in, const torch::TensorOptions& o) {
  return in == Layout::BCL ? torch::randn({B, C, L}, o) : torch::randn({B, L, C}, o);
}

}  // namespace

TEST(LayoutLinear, MatchesTwinInFp64ForEveryLayoutPair) {
  torch::manual_seed(0);
  const auto o = torch::TensorOptions().dtype(torch::kDouble);
  for (Layout in : {Layout::BLC, Layout::BCL}) {
    for (Layout out : {Layout::BLC, Layout::BCL}) {
      for (int64_t B : {1, 3}) {
        for (bool with_bias : {false, true}) {
          SCOPED_TRACE("in " + std::to_string(int(in)) + " out " + std::to_string(int(out)) + " B " +
                       std::to_string(B) + " bias " + std::to_string(with_bias));
          const int64_t Cin = 7, Cout = 5, L = 9;
          auto x = make_x(B, Cin, L, in, o);
          auto w = torch::randn({Cout, Cin}, o);
          auto b = with_bias ? torch::randn({Cout}, o) : torch::Tensor();
          auto probe = out == Layout::BCL ? torch::randn({B, Cout, L}, o) : torch::randn({B, L, Cout}, o);
          auto got = run(sm::layout_linear, x, in, w, b, out, probe);
          auto ref = run(sm::layout_linear_ref, x, in, w, b, out, probe);
          ASSERT_EQ(got.y.sizes(), ref.y.sizes());
          EXPECT_TRUE(got.y.is_contiguous());
          EXPECT_LE(rel(got.y, ref.y), 1e-12);
          EXPECT_LE(rel(got.dx, ref.dx), 1e-12);
          EXPECT_LE(rel(got.dw, ref.dw), 1e-12);
          if (with_bias) EXPECT_LE(rel(got.db, ref.db), 1e-12);
          EXPECT_EQ(got.dx.sizes(), x.sizes());
        }
      }
    }
  }
}

TEST(LayoutLinear, TakesAChannelSliceWithItsBatchStride) {
  // The mixer projects x_dbl[:, :dt_rank] (B, R, L), a slice of (B, R + 2N, L): batch stride (R + 2N) L.
  torch::manual_seed(1);
  const auto o = torch::TensorOptions().dtype(torch::kDouble);
  auto full = torch::randn({4, 10, 6}, o);
  auto w = torch::randn({8, 3}, o);
  auto probe = torch::randn({4, 8, 6}, o);
  auto slice_then = [&](auto f) {
    return [f](const torch::Tensor& x, Layout in, const torch::Tensor& w_, const torch::Tensor& b, Layout out) {
      return f(x.narrow(1, 2, 3), in, w_, b, out);
    };
  };
  auto got = run(slice_then(sm::layout_linear), full, Layout::BCL, w, {}, Layout::BCL, probe);
  auto ref = run(slice_then(sm::layout_linear_ref), full, Layout::BCL, w, {}, Layout::BCL, probe);
  EXPECT_LE(rel(got.y, ref.y), 1e-12);
  EXPECT_LE(rel(got.dx, ref.dx), 1e-12);  // zero outside the slice in both
  EXPECT_LE(rel(got.dw, ref.dw), 1e-12);
}

TEST(LayoutLinear, KeepsTheCallersDtypesOnTheCpu) {
  torch::manual_seed(2);
  auto x = torch::randn({2, 4, 3}).requires_grad_(true);     // fp32 (B, C, L)
  auto w = torch::randn({5, 4}, torch::kDouble).requires_grad_(true);
  auto y = sm::layout_linear(x, Layout::BCL, w, {}, Layout::BLC);
  EXPECT_EQ(y.scalar_type(), torch::kDouble);                 // promoted, as F::linear would refuse to mix
  y.sum().backward();
  EXPECT_EQ(x.grad().scalar_type(), torch::kFloat);
  EXPECT_EQ(w.grad().scalar_type(), torch::kDouble);
}

TEST(LayoutLinear, RefusesMismatchedShapesWithAClearError) {
  auto x = torch::randn({2, 4, 3});
  try {
    sm::layout_linear(x, Layout::BCL, torch::randn({5, 3}), {}, Layout::BLC);  // C_in = 4 vs weight's 3
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("(B, C_in, L)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[5, 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sm::layout_linear(x, Layout::BCL, torch::randn({5, 4}), torch::randn({4}), Layout::BLC),
               std::invalid_argument);  // bias length
  EXPECT_THROW(sm::layout_linear(x[0], Layout::BCL, torch::randn({5, 4}), {}, Layout::BLC), std::invalid_argument);
}

TEST(LayoutLinear, Bf16AutocastOnCudaMatchesTheFp32Twin) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(3);
  const torch::Device gpu(torch::kCUDA, 0);
  const auto o = torch::TensorOptions().device(gpu);
  for (Layout in : {Layout::BLC, Layout::BCL}) {
    for (Layout out : {Layout::BLC, Layout::BCL}) {
      const int64_t B = 4, Cin = 96, Cout = 64, L = 128;
      auto x = make_x(B, Cin, L, in, o);
      auto w = torch::randn({Cout, Cin}, o) * 0.1;
      auto b = torch::randn({Cout}, o);
      auto probe = out == Layout::BCL ? torch::randn({B, Cout, L}, o) : torch::randn({B, L, Cout}, o);
      auto autocast = [](const torch::Tensor& x_, Layout i, const torch::Tensor& w_, const torch::Tensor& b_, Layout o_) {
        sm::AutocastGuard bf16(x_.device(), true);
        return sm::layout_linear(x_, i, w_, b_, o_);
      };
      auto got = run(autocast, x, in, w, b, out, probe);
      auto ref = run(sm::layout_linear_ref, x.to(torch::kDouble), in, w.to(torch::kDouble), b.to(torch::kDouble), out,
                     probe.to(torch::kDouble));
      EXPECT_EQ(got.y.scalar_type(), torch::kBFloat16);  // as torch::nn::Linear under autocast
      EXPECT_EQ(got.dw.scalar_type(), torch::kFloat);
      EXPECT_LE(rel(got.y, ref.y), 1e-2);
      EXPECT_LE(rel(got.dx, ref.dx), 1e-2);
      EXPECT_LE(rel(got.dw, ref.dw), 1e-2);
      EXPECT_LE(rel(got.db, ref.db), 1e-2);
    }
  }
}
