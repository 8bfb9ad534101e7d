// scan_test_util.h — random scan inputs and the one tolerance policy of the kernels tests.
//
// Tolerance policy: a tensor passes when max |got − ref| ≤ atol + rtol · max |ref| (a norm-wise
// bound: elementwise relative error is meaningless near the zeros of a gradient). The max/mean abs
// diff is printed for every tensor, pass or fail, so a drifting kernel shows before it fails.
//   fp64 vs reference: rtol 1e-10      fp32: rtol 1e-4      bf16: rtol 1e-2      (atol 1e-12 each)
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "kernels/selective_scan.h"

namespace ssmlab::kernels::test {

inline double rtol_for(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat64: return 1e-10;
    case torch::kFloat32: return 1e-4;
    default: return 1e-2;
  }
}

// Returns true on pass; prints "name: max_abs ... mean_abs ... tol ... OK|NOT OK".
inline bool check_close(const std::string& name, const torch::Tensor& got, const torch::Tensor& ref, double rtol,
                        double atol = 1e-12) {
  if (!ref.defined() && !got.defined()) return true;
  if (!ref.defined() || !got.defined()) {
    ADD_FAILURE() << name << ": one side undefined (got " << got.defined() << ", ref " << ref.defined() << ")";
    return false;
  }
  if (got.sizes() != ref.sizes()) {
    ADD_FAILURE() << name << ": shape " << got.sizes() << " vs reference " << ref.sizes();
    return false;
  }
  auto g = got.detach().to(torch::kCPU, torch::kFloat64), r = ref.detach().to(torch::kCPU, torch::kFloat64);
  const bool finite = torch::isfinite(g).all().item<bool>();
  const double diff = (g - r).abs().max().item<double>();
  const double mean = (g - r).abs().mean().item<double>();
  const double scale = r.abs().max().item<double>();
  const double tol = atol + rtol * scale;
  const bool ok = finite && diff <= tol;
  std::printf("  %-14s max_abs %.3e  mean_abs %.3e  max|ref| %.3e  tol %.3e  %s\n", name.c_str(), diff, mean, scale,
              tol, ok ? "OK" : "NOT OK");
  if (!ok) ADD_FAILURE() << name << ": max abs diff " << diff << " > tol " << tol << (finite ? "" : " (non-finite)");
  return ok;
}

struct ScanCase {
  int64_t Bt = 2, D = 4, L = 16, N = 8;
  int64_t G = 0;  // 0: B/C shared (Bt, N, L); else grouped (Bt, G, N, L)
  bool z = true, Dskip = true, bias = true, softplus = true;
  std::string name() const {
    return "B" + std::to_string(Bt) + "_D" + std::to_string(D) + "_L" + std::to_string(L) + "_N" + std::to_string(N) +
           (G ? "_G" + std::to_string(G) : std::string("_shared")) + (z ? "_z" : "") + (Dskip ? "_Dskip" : "") +
           (bias ? "_bias" : "") + (softplus ? "_softplus" : "");
  }
};

struct ScanInputs {
  torch::Tensor u, delta, A, B, C, D, z, delta_bias;
  std::vector<torch::Tensor*> all() { return {&u, &delta, &A, &B, &C, &D, &z, &delta_bias}; }
  static constexpr const char* kNames[8] = {"u", "delta", "A", "B", "C", "D", "z", "delta_bias"};
};

// Fresh random inputs (never zeros): A < 0 as in S4D-real init, delta around softplus's knee.
inline ScanInputs make_inputs(const ScanCase& c, torch::ScalarType dt, torch::Device dev = torch::kCPU) {
  auto o = torch::TensorOptions().dtype(torch::kFloat64);
  ScanInputs x;
  x.u = torch::randn({c.Bt, c.D, c.L}, o);
  x.delta = c.softplus ? torch::randn({c.Bt, c.D, c.L}, o) * 0.5 - 1.0 : torch::rand({c.Bt, c.D, c.L}, o) * 0.2;
  x.A = -(torch::rand({c.D, c.N}, o) * 2 + 0.1);
  auto bc_shape = c.G ? std::vector<int64_t>{c.Bt, c.G, c.N, c.L} : std::vector<int64_t>{c.Bt, c.N, c.L};
  x.B = torch::randn(bc_shape, o);
  x.C = torch::randn(bc_shape, o);
  if (c.Dskip) x.D = torch::randn({c.D}, o);
  if (c.z) x.z = torch::randn({c.Bt, c.D, c.L}, o);
  if (c.bias) x.delta_bias = torch::randn({c.D}, o) * 0.3;
  for (auto* t : x.all())
    if (t->defined()) *t = t->to(dev, dt).contiguous();
  return x;
}

struct ScanGrads {
  torch::Tensor out, last;
  std::vector<torch::Tensor> grads;  // in ScanInputs::kNames order (undefined where the input is absent)
};

// Runs impl on leaf copies of x and backpropagates loss = Σ out·w_out + Σ last·w_last.
inline ScanGrads run_with_grads(const ScanInputs& x, const ScanCase& c, KernelImpl impl, const torch::Tensor& w_out,
                                const torch::Tensor& w_last) {
  ScanInputs y = x;
  for (auto* t : y.all())
    if (t->defined()) *t = t->detach().clone().set_requires_grad(true);
  auto r = selective_scan(y.u, y.delta, y.A, y.B, y.C, y.D, y.z, y.delta_bias, c.softplus, /*return_last_state=*/true,
                          impl);
  auto loss = (r.out.to(torch::kFloat64) * w_out.to(r.out.device())).sum() +
              (r.last_state.to(torch::kFloat64) * w_last.to(r.out.device())).sum();
  loss.backward();
  ScanGrads g;
  g.out = r.out.detach();
  g.last = r.last_state.detach();
  for (auto* t : y.all()) g.grads.push_back(t->defined() ? t->grad() : torch::Tensor());
  return g;
}

}  // namespace ssmlab::kernels::test
