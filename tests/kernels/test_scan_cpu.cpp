// test_scan_cpu.cpp — the fused CPU scan (selective_scan_cpu.cpp) against its reference twin
// (selective_scan_ref.cpp): outputs, last state and all eight gradients, fp64 and fp32; a
// finite-difference gradient check in fp64; input errors that name the tensor.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "tests/kernels/scan_test_util.h"
#include "kernels/selective_scan.h"

using namespace ssmlab::kernels;
using namespace ssmlab::kernels::test;

namespace {

void expect_parity(const ScanCase& c, torch::ScalarType dt) {
  torch::manual_seed(1234);
  auto x = make_inputs(c, dt);
  auto w_out = torch::randn({c.Bt, c.D, c.L}, torch::kFloat64);
  auto w_last = torch::randn({c.Bt, c.D, c.N}, torch::kFloat64);
  // the reference in fp64 is the ground truth for both precisions
  ScanInputs x64 = x;
  for (auto* t : x64.all())
    if (t->defined()) *t = t->to(torch::kFloat64);
  auto ref = run_with_grads(x64, c, KernelImpl::Reference, w_out, w_last);
  auto got = run_with_grads(x, c, KernelImpl::CpuFused, w_out, w_last);
  const double rtol = rtol_for(dt);
  std::printf("%s %s\n", c.name().c_str(), dt == torch::kFloat64 ? "fp64" : "fp32");
  check_close("out", got.out, ref.out, rtol);
  check_close("last_state", got.last, ref.last, rtol);
  EXPECT_EQ(got.out.scalar_type(), dt);
  for (size_t i = 0; i < got.grads.size(); ++i) {
    EXPECT_EQ(got.grads[i].defined(), ref.grads[i].defined()) << ScanInputs::kNames[i];
    check_close(std::string("d") + ScanInputs::kNames[i], got.grads[i], ref.grads[i], rtol);
  }
}

class ScanParity : public ::testing::TestWithParam<ScanCase> {};

TEST_P(ScanParity, Fp64MatchesReference) { expect_parity(GetParam(), torch::kFloat64); }
TEST_P(ScanParity, Fp32MatchesReference) { expect_parity(GetParam(), torch::kFloat32); }

ScanCase mk(int64_t Bt, int64_t D, int64_t L, int64_t N, int64_t G, bool z, bool Dskip, bool bias, bool softplus) {
  ScanCase c;
  c.Bt = Bt, c.D = D, c.L = L, c.N = N, c.G = G, c.z = z, c.Dskip = Dskip, c.bias = bias, c.softplus = softplus;
  return c;
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, ScanParity,
    ::testing::Values(mk(2, 4, 16, 8, 0, true, true, true, true),      // everything on
                      mk(2, 4, 16, 8, 0, false, false, false, false),  // bare scan
                      mk(2, 4, 16, 8, 0, true, false, false, true),    // z only
                      mk(2, 4, 16, 8, 0, false, true, true, false),    // D + bias without softplus
                      mk(2, 3, 1, 5, 0, true, true, true, true),       // L = 1
                      mk(1, 3, 37, 1, 0, true, true, true, true),      // N = 1
                      mk(2, 6, 372, 16, 0, true, true, true, true),    // odd length, N = 16
                      mk(2, 8, 45, 12, 2, true, true, true, true),     // grouped B/C, N not a multiple of 8
                      mk(1, 6, 29, 4, 3, false, true, false, true),    // grouped, G = 3
                      mk(3, 4, 20, 20, 4, true, true, true, true)),    // one channel per group
    [](const ::testing::TestParamInfo<ScanCase>& info) { return info.param.name(); });

// Mixed layout: B grouped, C shared.
TEST(ScanCpu, MixedGroupedAndSharedBC) {
  torch::manual_seed(7);
  ScanCase c = mk(2, 4, 33, 6, 2, true, true, true, true);
  auto x = make_inputs(c, torch::kFloat64);
  x.C = torch::randn({c.Bt, c.N, c.L}, torch::kFloat64);
  auto w_out = torch::randn({c.Bt, c.D, c.L}, torch::kFloat64), w_last = torch::randn({c.Bt, c.D, c.N}, torch::kFloat64);
  auto ref = run_with_grads(x, c, KernelImpl::Reference, w_out, w_last);
  auto got = run_with_grads(x, c, KernelImpl::CpuFused, w_out, w_last);
  check_close("out", got.out, ref.out, 1e-10);
  for (size_t i = 0; i < got.grads.size(); ++i)
    check_close(std::string("d") + ScanInputs::kNames[i], got.grads[i], ref.grads[i], 1e-10);
}

// Central differences on a tiny fp64 case: every entry of every input.
TEST(ScanCpu, FiniteDifferenceGradients) {
  torch::manual_seed(3);
  ScanCase c = mk(1, 2, 5, 3, 2, true, true, true, true);
  auto x = make_inputs(c, torch::kFloat64);
  auto w_out = torch::randn({c.Bt, c.D, c.L}, torch::kFloat64), w_last = torch::randn({c.Bt, c.D, c.N}, torch::kFloat64);
  auto analytic = run_with_grads(x, c, KernelImpl::CpuFused, w_out, w_last);
  auto loss_at = [&](const ScanInputs& y) {
    torch::NoGradGuard ng;
    auto r = selective_scan(y.u, y.delta, y.A, y.B, y.C, y.D, y.z, y.delta_bias, c.softplus, true, KernelImpl::CpuFused);
    return ((r.out * w_out).sum() + (r.last_state * w_last).sum()).item<double>();
  };
  const double eps = 1e-6;
  double worst = 0;
  for (size_t i = 0; i < 8; ++i) {
    auto& t = *x.all()[i];
    auto flat = t.view(-1);
    auto g = analytic.grads[i].reshape(-1);
    for (int64_t j = 0; j < flat.numel(); ++j) {
      const double v = flat[j].item<double>();
      flat[j] = v + eps;
      const double lp = loss_at(x);
      flat[j] = v - eps;
      const double lm = loss_at(x);
      flat[j] = v;
      const double fd = (lp - lm) / (2 * eps), an = g[j].item<double>();
      worst = std::max(worst, std::abs(fd - an) / (1.0 + std::abs(fd)));
      EXPECT_NEAR(an, fd, 1e-6 * (1.0 + std::abs(fd))) << ScanInputs::kNames[i] << "[" << j << "]";
    }
  }
  std::printf("  finite differences: worst |analytic - fd| / (1 + |fd|) = %.3e\n", worst);
}

TEST(ScanCpu, AutoPicksFusedKernelOnCpu) {
  torch::manual_seed(5);
  ScanCase c;
  auto x = make_inputs(c, torch::kFloat32);
  auto a = selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.delta_bias, true, false, KernelImpl::Auto);
  auto f = selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.delta_bias, true, false, KernelImpl::CpuFused);
  EXPECT_TRUE(torch::equal(a.out, f.out));
  // and a non-contiguous input reaches the fused kernel's check through Auto
  auto u_nc = x.u.transpose(1, 2).contiguous().transpose(1, 2);
  EXPECT_THROW(selective_scan(u_nc, x.delta, x.A, x.B, x.C, x.D, x.z, x.delta_bias, true, false, KernelImpl::Auto),
               std::invalid_argument);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ScanCpu, ClearErrorsNameTheTensor) {
  torch::manual_seed(9);
  ScanCase c;
  auto x = make_inputs(c, torch::kFloat32);
  auto call = [&](ScanInputs y) {
    return [y]() mutable {
      selective_scan(y.u, y.delta, y.A, y.B, y.C, y.D, y.z, y.delta_bias, true, false, KernelImpl::CpuFused);
    };
  };
  {  // non-contiguous C
    auto y = x;
    y.C = x.C.transpose(1, 2).contiguous().transpose(1, 2);
    auto msg = error_of(call(y));
    EXPECT_NE(msg.find("C must be contiguous"), std::string::npos) << msg;
  }
  {  // non-contiguous z
    auto y = x;
    y.z = torch::randn({c.Bt, c.L, c.D}).transpose(1, 2);
    auto msg = error_of(call(y));
    EXPECT_NE(msg.find("z must be contiguous"), std::string::npos) << msg;
  }
  {  // wrong shape B
    auto y = x;
    y.B = torch::randn({c.Bt, c.N + 1, c.L});
    auto msg = error_of(call(y));
    EXPECT_NE(msg.find("B must have shape (B, N, L)"), std::string::npos) << msg;
  }
  {  // wrong shape delta
    auto y = x;
    y.delta = torch::randn({c.Bt, c.D, c.L + 1});
    auto msg = error_of(call(y));
    EXPECT_NE(msg.find("delta must have shape"), std::string::npos) << msg;
  }
  {  // wrong dtype
    auto y = x;
    y.u = x.u.to(torch::kBFloat16);
    y.delta = x.delta.to(torch::kBFloat16);
    y.z = x.z.to(torch::kBFloat16);
    auto msg = error_of(call(y));
    EXPECT_NE(msg.find("u has dtype"), std::string::npos) << msg;
  }
  {  // group count that does not divide D
    auto y = x;
    y.B = torch::randn({c.Bt, 3, c.N, c.L});
    auto msg = error_of(call(y));
    EXPECT_NE(msg.find("G dividing D"), std::string::npos) << msg;
  }
}

}  // namespace
