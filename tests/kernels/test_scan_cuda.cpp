// test_scan_cuda.cpp — the CUDA selective scan and causal conv1d + SiLU (kernels/cuda/) against the
// fp64 CPU reference on the same (dtype-rounded) inputs: outputs, last state and every gradient.
// Tolerances (scan_test_util.h): fp32 1e-4, bf16 1e-2, relative to max |ref|. Skipped without a GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/kernels/scan_test_util.h"
#include "kernels/selective_scan.h"
#include "kernels/selective_scan_internal.h"
#include "kernels/selective_state_update.h"
#include "kernels/causal_conv1d.h"

using namespace ssmlab::kernels;
using namespace ssmlab::kernels::test;

namespace {

bool have_gpu() { return cuda_scan_built() && torch::cuda::is_available(); }

struct CudaCase {
  ScanCase c;
  torch::ScalarType dtype;
  std::string name() const { return c.name() + (dtype == torch::kBFloat16 ? "_bf16" : "_fp32"); }
};

class CudaScanParity : public ::testing::TestWithParam<CudaCase> {};

TEST_P(CudaScanParity, MatchesReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA GPU (or built without SSMLAB_WITH_CUDA)";
  const auto& cc = GetParam();
  const auto& c = cc.c;
  torch::manual_seed(42);
  auto x = make_inputs(c, cc.dtype, torch::kCUDA);  // the kernel's inputs
  // weights/params in fp32 as in Mamba
  for (auto* t : {&x.A, &x.D, &x.delta_bias})
    if (t->defined()) *t = t->to(torch::kFloat32);
  ScanInputs x64 = x;  // the same rounded values, in fp64 on the CPU
  for (auto* t : x64.all())
    if (t->defined()) *t = t->to(torch::kCPU, torch::kFloat64);
  auto w_out = torch::randn({c.Bt, c.D, c.L}, torch::kFloat64), w_last = torch::randn({c.Bt, c.D, c.N}, torch::kFloat64);
  auto ref = run_with_grads(x64, c, KernelImpl::Reference, w_out, w_last);
  auto got = run_with_grads(x, c, KernelImpl::Cuda, w_out, w_last);
  const double rtol = rtol_for(cc.dtype);
  std::printf("%s\n", cc.name().c_str());
  check_close("out", got.out, ref.out, rtol);
  check_close("last_state", got.last, ref.last, rtol);
  EXPECT_EQ(got.out.scalar_type(), cc.dtype);
  for (size_t i = 0; i < got.grads.size(); ++i)
    check_close(std::string("d") + ScanInputs::kNames[i], got.grads[i], ref.grads[i], rtol);
  // Auto must choose the CUDA kernel: same bits as the explicit call
  torch::NoGradGuard ng;
  auto a = selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.delta_bias, c.softplus, false, KernelImpl::Auto);
  auto k = selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.delta_bias, c.softplus, false, KernelImpl::Cuda);
  EXPECT_TRUE(torch::equal(a.out, k.out));
}

ScanCase mk(int64_t Bt, int64_t D, int64_t L, int64_t N, int64_t G, bool z, bool Dskip, bool bias, bool softplus) {
  ScanCase c;
  c.Bt = Bt, c.D = D, c.L = L, c.N = N, c.G = G, c.z = z, c.Dskip = Dskip, c.bias = bias, c.softplus = softplus;
  return c;
}

std::vector<CudaCase> cases() {
  std::vector<CudaCase> v;
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    v.push_back({mk(2, 64, 372, 16, 0, true, true, true, true), dt});     // odd length, everything on
    v.push_back({mk(2, 32, 100, 16, 0, false, false, false, false), dt}); // bare scan
    v.push_back({mk(1, 32, 1, 16, 0, true, true, true, true), dt});       // L = 1
    v.push_back({mk(2, 128, 257, 4, 2, true, true, true, true), dt});     // grouped, N = 4
    v.push_back({mk(1, 64, 1134, 1, 0, true, false, true, true), dt});    // N = 1, long odd length
    // N > 16: one launch per slice of 16 states, partial y and du/ddelta summed in fp32, z gate outside
    v.push_back({mk(2, 64, 300, 32, 0, true, true, true, true), dt});     // the paper's Mamba d_state
    v.push_back({mk(1, 32, 77, 20, 0, true, true, true, true), dt});      // a partial last slice
    v.push_back({mk(2, 128, 129, 64, 2, false, true, false, true), dt});  // grouped, no z
    v.push_back({mk(1, 32, 40, 256, 0, true, false, true, false), dt});   // mamba-ssm's largest
    // D / G not a multiple of 32: the kernel runs on zero-padded channels (cut away after)
    v.push_back({mk(2, 48, 100, 16, 0, true, true, true, true), dt});     // padded to 64
    v.push_back({mk(2, 96, 65, 16, 2, true, true, true, true), dt});      // grouped: 48 per group, padded per group
    v.push_back({mk(1, 40, 77, 32, 0, true, true, true, true), dt});      // padded, and two slices of 16 states
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaScanParity, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<CudaCase>& i) { return i.param.name(); });

TEST(CudaScan, ClearErrors) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA GPU (or built without SSMLAB_WITH_CUDA)";
  {  // d_state above the limit: a clear error naming it
    ScanCase big = mk(1, 32, 8, 257, 0, false, false, false, false);
    auto xb = make_inputs(big, torch::kFloat32, torch::kCUDA);
    try {
      selective_scan(xb.u, xb.delta, xb.A, xb.B, xb.C, {}, {}, {}, false, false, KernelImpl::Cuda);
      ADD_FAILURE() << "no error for N = 257";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("N <= 256"), std::string::npos) << e.what();
    }
  }
  // D = 48 is not a multiple of 32: Auto and the explicit call both take the kernel (padded channels), and the
  // padded channels change nothing (the parity cases above check values and every gradient)
  ScanCase c = mk(1, 48, 8, 16, 0, false, false, false, false);
  auto x = make_inputs(c, torch::kFloat32, torch::kCUDA);
  auto k = selective_scan(x.u, x.delta, x.A, x.B, x.C, {}, {}, {}, false, true, KernelImpl::Cuda);
  auto r = selective_scan(x.u, x.delta, x.A, x.B, x.C, {}, {}, {}, false, true, KernelImpl::Auto);
  EXPECT_TRUE(torch::equal(r.out, k.out));
  EXPECT_EQ(k.out.sizes(), x.u.sizes());
  EXPECT_EQ(k.last_state.sizes(), (std::vector<int64_t>{1, 48, 16}));
  auto ref = selective_scan_ref(x.u, x.delta, x.A, x.B, x.C, {}, {}, {}, false, true);
  EXPECT_TRUE(torch::allclose(k.out, ref.out, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(k.last_state, ref.last_state, 1e-4, 1e-5));
}

// conv1d + SiLU against LibTorch's grouped conv1d (fp64 on the CPU).
TEST(CudaConv1d, MatchesTorchConv) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA GPU (or built without SSMLAB_WITH_CUDA)";
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    for (int64_t W : {2, 4}) {
      torch::manual_seed(11);
      const int64_t Bt = 2, D = 24, L = 301;
      auto x = torch::randn({Bt, D, L}).to(torch::kCUDA, dt);
      auto w = torch::randn({D, W}, torch::kCUDA) * 0.5, b = torch::randn({D}, torch::kCUDA) * 0.1;
      auto go = torch::randn({Bt, D, L}, torch::kFloat64);
      auto run = [&](bool ref) {
        auto xx = (ref ? x.to(torch::kCPU, torch::kFloat64) : x).detach().clone().set_requires_grad(true);
        auto ww = (ref ? w.to(torch::kCPU, torch::kFloat64) : w).detach().clone().set_requires_grad(true);
        auto bb = (ref ? b.to(torch::kCPU, torch::kFloat64) : b).detach().clone().set_requires_grad(true);
        torch::Tensor y;
        if (ref) {
          y = torch::conv1d(xx, ww.unsqueeze(1), bb, 1, W - 1, 1, D).narrow(2, 0, L);
          y = torch::silu(y);
        } else {
          y = causal_conv1d_silu_cuda(xx, ww, bb, true);
        }
        (y.to(torch::kFloat64) * go.to(y.device())).sum().backward();
        return std::vector<torch::Tensor>{y.detach(), xx.grad(), ww.grad(), bb.grad()};
      };
      auto r = run(true), g = run(false);
      const double rtol = rtol_for(dt);
      std::printf("conv1d W=%ld %s\n", long(W), dt == torch::kBFloat16 ? "bf16" : "fp32");
      const char* names[] = {"out", "dx", "dweight", "dbias"};
      for (int i = 0; i < 4; ++i) check_close(names[i], g[i], r[i], rtol);
    }
  }
}

// The fused decode step (kernels/cuda/state_update_cuda.cu) against the reference step on the same GPU:
// 6 successive steps from a random state, fp32 and bf16, N 16/32/64, a width that is not a multiple of the
// block (48), B, C and z as strided row views (as Mamba's step passes them), the optional inputs (z, D, Δ bias,
// softplus) all on or all off.
TEST(CudaStateUpdate, MatchesTheReferenceStep) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device or no CUDA kernels in this build";
  torch::manual_seed(3);
  torch::NoGradGuard ng;
  const torch::Device gpu(torch::kCUDA, 0);
  for (auto dt : {torch::kFloat32, torch::kBFloat16})
    for (int64_t N : {16, 32, 64})
      for (int64_t D : {48, 1536})
        for (bool opt : {false, true}) {
          const int64_t Bt = 3, R = 5;
          SCOPED_TRACE("dtype " + std::string(c10::toString(dt)) + " N " + std::to_string(N) + " D " + std::to_string(D) +
                       (opt ? " z+D+bias+softplus" : " bare"));
          auto f = torch::TensorOptions().device(gpu);
          auto A = -(torch::rand({D, N}, f) * 2 + 0.1);
          auto Dskip = opt ? torch::randn({D}, f) : torch::Tensor();
          auto bias = opt ? torch::randn({D}, f) * 0.3 : torch::Tensor();
          auto s_ref = torch::randn({Bt, D, N}, f) * 0.5, s_cuda = s_ref.clone(), s_auto = s_ref.clone();
          for (int step = 0; step < 6; ++step) {
            auto x = torch::randn({Bt, D}, f).to(dt);
            auto delta = (opt ? torch::randn({Bt, D}, f) * 0.5 - 1.0 : torch::rand({Bt, D}, f) * 0.2).to(dt);
            auto proj = torch::randn({Bt, R + 2 * N}, f).to(dt);     // like x_proj's output
            auto B = proj.narrow(1, R, N), C = proj.narrow(1, R + N, N);
            auto xz = torch::randn({Bt, 2 * D}, f).to(dt);
            auto z = opt ? xz.narrow(1, D, D) : torch::Tensor();
            auto y_ref = selective_state_update(s_ref, x, delta, A, B, C, Dskip, z, bias, opt, KernelImpl::Reference);
            auto y_cuda = selective_state_update(s_cuda, x, delta, A, B, C, Dskip, z, bias, opt, KernelImpl::Cuda);
            auto y_auto = selective_state_update(s_auto, x, delta, A, B, C, Dskip, z, bias, opt, KernelImpl::Auto);
            EXPECT_EQ(y_cuda.scalar_type(), dt);
            check_close("y step " + std::to_string(step), y_cuda, y_ref, rtol_for(dt));
            check_close("state step " + std::to_string(step), s_cuda, s_ref, rtol_for(torch::kFloat32));
            EXPECT_TRUE(torch::equal(y_auto, y_cuda)) << "Auto takes the kernel without autograd";
          }
        }
  // Under autograd Auto runs the reference, and the kernel refuses to run (it has no backward).
  torch::AutoGradMode grad_on(true);  // the loop above ran under the test's NoGradGuard
  auto s = torch::zeros({1, 32, 16}, torch::TensorOptions().device(gpu));
  auto x = torch::randn({1, 32}, torch::TensorOptions().device(gpu)).set_requires_grad(true);
  auto A = -torch::ones({32, 16}, torch::TensorOptions().device(gpu)), B = torch::randn({1, 16}, torch::TensorOptions().device(gpu));
  auto y = selective_state_update(s, x, x, A, B, B, {}, {}, {}, true);
  y.sum().backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_THROW(selective_state_update(s, x, x, A, B, B, {}, {}, {}, true, KernelImpl::Cuda), std::invalid_argument);
  // a D_skip or dt_bias that needs grad is refused as well (the kernel would drop its gradient)
  auto xd = x.detach(), Dg = torch::ones({32}, torch::TensorOptions().device(gpu)).set_requires_grad(true);
  EXPECT_THROW(selective_state_update(s, xd, xd, A, B, B, Dg, {}, {}, true, KernelImpl::Cuda), std::invalid_argument);
  EXPECT_THROW(selective_state_update(s, xd, xd, A, B, B, {}, {}, Dg, true, KernelImpl::Cuda), std::invalid_argument);
  // an empty batch: an empty result, no launch
  torch::NoGradGuard ng2;
  auto s0 = torch::zeros({0, 32, 16}, torch::TensorOptions().device(gpu));
  auto x0 = torch::zeros({0, 32}, torch::TensorOptions().device(gpu)), B0 = torch::zeros({0, 16}, torch::TensorOptions().device(gpu));
  EXPECT_EQ(selective_state_update(s0, x0, x0, A, B0, B0, {}, {}, {}, true, KernelImpl::Cuda).numel(), 0);
}

// The fused conv decode step (conv1d_update_kernel) against the reference step on the same GPU: 6 steps,
// fp32 and bf16, W = 2..4, widths 48 and 1536, x as strided rows (a view into in_proj's output), bias on/off,
// SiLU on/off; an empty batch returns an empty result.
TEST(CudaConv1dUpdate, MatchesTheReferenceStep) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device or no CUDA kernels in this build";
  torch::manual_seed(6);
  torch::NoGradGuard ng;
  const torch::Device gpu(torch::kCUDA, 0);
  for (auto dt : {torch::kFloat32, torch::kBFloat16})
    for (int64_t W : {2, 3, 4})
      for (int64_t D : {48, 1536})
        for (bool with_bias : {false, true})
          for (bool silu : {false, true}) {
          SCOPED_TRACE("dtype " + std::string(c10::toString(dt)) + " W " + std::to_string(W) + " D " + std::to_string(D) +
                       (with_bias ? " bias" : "") + (silu ? " silu" : " linear"));
          const int64_t Bt = 3;
          auto f = torch::TensorOptions().device(gpu);
          auto w = torch::randn({D, W}, f).to(dt), bias = with_bias ? torch::randn({D}, f).to(dt) : torch::Tensor();
          auto s_ref = torch::randn({Bt, D, W}, f).to(dt), s_cuda = s_ref.clone(), s_auto = s_ref.clone();
          for (int step = 0; step < 6; ++step) {
            auto xz = torch::randn({Bt, 2 * D}, f).to(dt);
            auto x = xz.narrow(1, 0, D);
            auto y_ref = causal_conv1d_update(s_ref, x, w, bias, silu, KernelImpl::Reference);
            auto y_cuda = causal_conv1d_update(s_cuda, x, w, bias, silu, KernelImpl::Cuda);
            auto y_auto = causal_conv1d_update(s_auto, x, w, bias, silu, KernelImpl::Auto);
            check_close("y step " + std::to_string(step), y_cuda, y_ref, rtol_for(dt));
            EXPECT_TRUE(torch::equal(s_cuda, s_ref)) << "the shifted state holds the same values";
            EXPECT_TRUE(torch::equal(y_auto, y_cuda)) << "Auto takes the kernel without autograd";
          }
        }
  auto f = torch::TensorOptions().device(gpu);
  auto empty_state = torch::zeros({0, 48, 4}, f);
  EXPECT_EQ(causal_conv1d_update(empty_state, torch::zeros({0, 48}, f), torch::randn({48, 4}, f), {}, true, KernelImpl::Cuda).numel(), 0);
  // weights left on the host: Auto takes the reference (which fails in LibTorch with its own message), Cuda says why
  auto s = torch::zeros({2, 48, 4}, f);
  EXPECT_THROW(causal_conv1d_update(s, torch::randn({2, 48}, f), torch::randn({48, 4}), {}, true, KernelImpl::Cuda),
               std::invalid_argument);
}

}  // namespace
