// test_state_update.cpp — the decode step (kernels/selective_state_update.h) against the scan: stepping the
// reference L times gives the scan reference's outputs and last state (fp64, every optional input on and
// off), autograd sees the step, strided rows work, and bad shapes are clear errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "kernels/selective_state_update.h"
#include "tests/kernels/scan_test_util.h"

namespace ssmlab::kernels::test {

namespace {
// Runs the step over every t of a scan case: y (Bt, D, L) and the final state (Bt, D, N).
std::pair<torch::Tensor, torch::Tensor> step_through(const ScanInputs& x, const ScanCase& c, KernelImpl impl) {
  auto state = torch::zeros({c.Bt, c.D, c.N}, x.u.options().dtype(x.u.scalar_type() == torch::kFloat64 ? torch::kFloat64
                                                                                                          : torch::kFloat32));
  std::vector<torch::Tensor> ys;
  for (int64_t t = 0; t < c.L; ++t) {
    auto at = [&](const torch::Tensor& v) { return v.defined() ? v.select(-1, t) : torch::Tensor(); };
    ys.push_back(selective_state_update(state, at(x.u), at(x.delta), x.A, at(x.B), at(x.C), x.D, at(x.z), x.delta_bias,
                                        c.softplus, impl));
  }
  return {torch::stack(ys, -1), state};
}
}  // namespace

TEST(StateUpdate, StepsEqualTheScanReference) {
  torch::manual_seed(7);
  torch::NoGradGuard ng;
  for (bool z : {false, true})
    for (bool D : {false, true})
      for (bool bias : {false, true})
        for (bool softplus : {false, true}) {
          ScanCase c{2, 5, 9, 6, 0, z, D, bias, softplus};
          SCOPED_TRACE(c.name());
          auto x = make_inputs(c, torch::kFloat64);
          auto ref = selective_scan_ref(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.delta_bias, softplus, true);
          for (auto impl : {KernelImpl::Reference, KernelImpl::Auto, KernelImpl::CpuFused}) {
            auto [y, h] = step_through(x, c, impl);
            check_close("y", y, ref.out, 1e-10);
            check_close("last_state", h, ref.last_state, 1e-10);
          }
        }
}

TEST(StateUpdate, InPlaceWithoutAutogradAndNewTensorUnderIt) {
  torch::manual_seed(8);
  ScanCase c{2, 4, 1, 3};
  auto x = make_inputs(c, torch::kFloat32);
  auto at0 = [](const torch::Tensor& v) { return v.select(-1, 0); };
  auto state = torch::randn({2, 4, 3});
  const auto before = state.clone();
  {
    torch::NoGradGuard ng;
    auto s = state;
    selective_state_update(s, at0(x.u), at0(x.delta), x.A, at0(x.B), at0(x.C), x.D, at0(x.z), x.delta_bias, true);
    EXPECT_TRUE(s.is_same(state)) << "the same tensor, updated in place";
    EXPECT_FALSE(torch::equal(state, before));
  }
  auto u = at0(x.u).clone().set_requires_grad(true);
  auto s = before.clone();
  const auto kept = s;
  auto y = selective_state_update(s, u, at0(x.delta), x.A, at0(x.B), at0(x.C), x.D, at0(x.z), x.delta_bias, true);
  EXPECT_FALSE(s.is_same(kept)) << "under autograd the state is a new tensor";
  EXPECT_TRUE(torch::equal(kept, before)) << "and the old one is untouched";
  (y.sum() + s.sum()).backward();
  ASSERT_TRUE(u.grad().defined());
  EXPECT_GT(u.grad().abs().sum().item<double>(), 0.0);
}

TEST(StateUpdate, StridedRowsGiveTheContiguousResult) {
  torch::manual_seed(9);
  torch::NoGradGuard ng;
  const int64_t Bt = 3, D = 6, N = 4;
  auto proj = torch::randn({Bt, 2 + 2 * N});      // like x_proj's output: (dt_rank + 2N) per row
  auto B = proj.narrow(1, 2, N), C = proj.narrow(1, 2 + N, N);
  auto xz = torch::randn({Bt, 2 * D});
  auto z = xz.narrow(1, D, D);
  ASSERT_FALSE(B.is_contiguous());
  auto x = torch::randn({Bt, D}), dt = torch::randn({Bt, D}), A = -torch::rand({D, N}) - 0.1;
  auto s1 = torch::randn({Bt, D, N}), s2 = s1.clone();
  auto y1 = selective_state_update(s1, x, dt, A, B, C, {}, z, {}, true);
  auto y2 = selective_state_update(s2, x, dt, A, B.contiguous(), C.contiguous(), {}, z.contiguous(), {}, true);
  EXPECT_TRUE(torch::equal(y1, y2));
  EXPECT_TRUE(torch::equal(s1, s2));
}

TEST(StateUpdate, BadShapesAndTheMissingCudaPathAreClearErrors) {
  const int64_t Bt = 2, D = 3, N = 4;
  auto state = torch::zeros({Bt, D, N});
  auto x = torch::randn({Bt, D}), A = -torch::ones({D, N}), B = torch::randn({Bt, N});
  auto expect_error = [](const std::function<void()>& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no error (expected one naming '" << part << "')";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error([&] { selective_state_update(state, x, x, A, torch::randn({Bt, N + 1}), B); }, "B has shape");
  expect_error([&] { selective_state_update(state, x, x, torch::ones({D}), B, B); }, "A has shape");
  expect_error([&] { selective_state_update(state, torch::randn({Bt, D + 1}), x, A, B, B); }, "x has shape");
  expect_error([&] { auto s = torch::zeros({Bt, D}); selective_state_update(s, x, x, A, B, B); }, "state has shape");
  expect_error([&] { selective_state_update(state, x, x, A, B, B, torch::ones({D + 2})); }, "D_skip has shape");
  expect_error([&] { auto s = state.to(torch::kBFloat16); selective_state_update(s, x, x, A, B, B); }, "fp32 or fp64");
#ifndef SSMLAB_WITH_CUDA
  expect_error([&] { selective_state_update(state, x, x, A, B, B, {}, {}, {}, false, KernelImpl::Cuda); }, "not built");
#endif
}

}  // namespace ssmlab::kernels::test
