// test_ssd.cpp — the chunked SSD (kernels/ssd.h) against its sequential reference twin: outputs and
// final states for chunk lengths that divide L and that do not, G = 1 and G = 2; segsum by hand; the
// dispatch by KernelImpl; input errors that name the argument.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

#include "kernels/ssd.h"

namespace sk = ssmlab::kernels;

namespace {
void expect_close(const torch::Tensor& a, const torch::Tensor& b, double atol, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double diff = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  EXPECT_LE(diff, atol) << what << ": max |diff| = " << diff;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no std::invalid_argument)";
}
}  // namespace

TEST(Ssd, ChunkedEqualsSequential) {
  torch::manual_seed(3);
  const int64_t b = 2, L = 12, H = 4, P = 3, N = 5;
  for (int64_t G : {1, 2}) {
    auto x = torch::randn({b, L, H, P}, torch::kFloat64);
    auto dt = torch::nn::functional::softplus(torch::randn({b, L, H}, torch::kFloat64));
    auto A = -torch::rand({H}, torch::kFloat64) * 2 - 0.1;
    auto Bm = torch::randn({b, L, G, N}, torch::kFloat64), Cm = torch::randn({b, L, G, N}, torch::kFloat64);
    torch::Tensor s_ref, s_chunk;
    auto y_ref = sk::ssd_sequential(x, dt, A, Bm, Cm, &s_ref);
    for (int64_t Q : {1, 3, 4, 12, 5, 7, 16}) {                    // divides L, and does not
      auto y = sk::ssd_chunked(x, dt, A, Bm, Cm, Q, &s_chunk);
      const std::string tag = "G=" + std::to_string(G) + " Q=" + std::to_string(Q);
      expect_close(y, y_ref, 1e-4, "y " + tag);
      expect_close(s_chunk, s_ref, 1e-4, "final state " + tag);
    }
  }
}

TEST(Ssd, SegsumByHand) {
  auto a = torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64);
  auto e = sk::segsum_exp(a);
  auto want = torch::tensor({1.0, 0.0, 0.0, std::exp(2.0), 1.0, 0.0, std::exp(5.0), std::exp(3.0), 1.0}, torch::kFloat64).view({3, 3});
  expect_close(e, want, 1e-9, "segsum");
}

TEST(Ssd, DispatchByKernelImpl) {
  torch::manual_seed(6);
  const int64_t b = 1, L = 9, H = 2, P = 3, N = 4, G = 1, Q = 4;
  auto x = torch::randn({b, L, H, P}, torch::kFloat64);
  auto dt = torch::nn::functional::softplus(torch::randn({b, L, H}, torch::kFloat64));
  auto A = -torch::rand({H}, torch::kFloat64) - 0.1;
  auto Bm = torch::randn({b, L, G, N}, torch::kFloat64), Cm = torch::randn({b, L, G, N}, torch::kFloat64);
  torch::Tensor s_seq, s_chunk, s;
  auto y_seq = sk::ssd_sequential(x, dt, A, Bm, Cm, &s_seq);
  auto y_chunk = sk::ssd_chunked(x, dt, A, Bm, Cm, Q, &s_chunk);
  // Reference is the sequential twin, exactly; every other choice is the chunked form, exactly.
  EXPECT_TRUE(torch::equal(sk::ssd(x, dt, A, Bm, Cm, Q, &s, sk::KernelImpl::Reference), y_seq));
  EXPECT_TRUE(torch::equal(s, s_seq));
  for (auto impl : {sk::KernelImpl::Auto, sk::KernelImpl::CpuFused, sk::KernelImpl::Cuda}) {
    EXPECT_TRUE(torch::equal(sk::ssd(x, dt, A, Bm, Cm, Q, &s, impl), y_chunk)) << sk::to_string(impl);
    EXPECT_TRUE(torch::equal(s, s_chunk)) << sk::to_string(impl);
  }
}

TEST(Ssd, InputErrorsNameTheArgument) {
  const int64_t b = 1, L = 5, H = 4, P = 2, N = 3;
  auto x = torch::randn({b, L, H, P}), dt = torch::rand({b, L, H}), A = -torch::rand({H});
  auto Bm = torch::randn({b, L, 2, N}), Cm = torch::randn({b, L, 2, N});
  auto msg = error_of([&] { sk::ssd_chunked(x, dt, A, Bm, Cm, 0); });
  EXPECT_NE(msg.find("chunk_size must be >= 1"), std::string::npos) << msg;
  msg = error_of([&] { sk::ssd_sequential(x.flatten(2), dt, A, Bm, Cm); });
  EXPECT_NE(msg.find("x must have shape (B, L, H, P)"), std::string::npos) << msg;
  msg = error_of([&] { sk::ssd_chunked(x, dt.narrow(1, 0, L - 1), A, Bm, Cm, 2); });
  EXPECT_NE(msg.find("dt must have shape"), std::string::npos) << msg;
  msg = error_of([&] { sk::ssd_chunked(x, dt, -torch::rand({H + 1}), Bm, Cm, 2); });
  EXPECT_NE(msg.find("A must have shape (H)"), std::string::npos) << msg;
  msg = error_of([&] { sk::ssd_sequential(x, dt, A, torch::randn({b, L, 3, N}), torch::randn({b, L, 3, N})); });
  EXPECT_NE(msg.find("must divide H"), std::string::npos) << msg;
  msg = error_of([&] { sk::ssd_sequential(x, dt, A, Bm, torch::randn({b, L, 2, N + 1})); });
  EXPECT_NE(msg.find("Bm and Cm must have the same shape"), std::string::npos) << msg;
}
