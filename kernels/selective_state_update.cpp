// selective_state_update.cpp — the reference decode step, its input checks and the dispatch
// (selective_state_update.h); the CUDA path is selective_state_update_cuda.cpp (SSMLAB_WITH_CUDA only).
#include "kernels/selective_state_update.h"
#include "kernels/selective_scan_internal.h"

#include <sstream>
#include <stdexcept>

namespace ssmlab::kernels {

namespace F = torch::nn::functional;

// What the fused CUDA step takes (a pure check of the tensors, compiled in every build; Auto and the CUDA
// binding share it). `why` gets the first reason it does not.
bool state_update_cuda_supports(const torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                const torch::Tensor& D_skip, const torch::Tensor& z, const torch::Tensor& dt_bias,
                                std::string* why) {
  auto no = [&](const std::string& w) {
    if (why) *why = w;
    return false;
  };
  if (!cuda_scan_built()) return no("this build has no CUDA kernels (SSMLAB_WITH_CUDA off)");
  if (!state.defined() || !state.is_cuda() || state.scalar_type() != torch::kFloat32) return no("state must be fp32 on CUDA");
  if (!x.defined() || (x.scalar_type() != torch::kFloat32 && x.scalar_type() != torch::kBFloat16))
    return no("x must be fp32 or bf16");
  const std::pair<const char*, const torch::Tensor*> elem[] = {{"dt", &dt}, {"B", &B}, {"C", &C}, {"z", &z}};
  for (const auto& [name, t] : elem)
    if (t->defined() && t->scalar_type() != x.scalar_type()) return no(std::string(name) + " must have x's dtype");
  const std::pair<const char*, const torch::Tensor*> f32[] = {{"A", &A}, {"D_skip", &D_skip}, {"dt_bias", &dt_bias}};
  for (const auto& [name, t] : f32)
    if (t->defined() && t->scalar_type() != torch::kFloat32) return no(std::string(name) + " must be fp32");
  const torch::Tensor* all[] = {&state, &x, &dt, &A, &B, &C, &D_skip, &z, &dt_bias};
  for (const auto* t : all) {
    if (!t->defined()) continue;
    if (t->device() != state.device()) return no("every tensor must be on state's device");
    const bool rows_ok = (t == &B || t == &C || t == &z) && t->dim() == 2 && t->stride(1) == 1 && t->stride(0) >= t->size(1);
    if (!t->is_contiguous() && !rows_ok)
      return no("every tensor must be contiguous (B, C and z: contiguous rows at any row stride)");
  }
  if (state.dim() == 3 && state.size(2) > 4096) return no("d_state above 4096 does not fit shared memory");
  if (state.dim() == 3 && state.size(0) > 65535) return no("more than 65535 batch rows (the grid's y dimension)");
  return true;
}

#ifndef SSMLAB_WITH_CUDA  // the stand-in for selective_state_update_cuda.cpp
torch::Tensor selective_state_update_cuda(torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                                          const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                                          const torch::Tensor&, const torch::Tensor&, bool) {
  throw std::invalid_argument("selective_state_update: implementation 'cuda' is not built into this binary "
                              "(needs nvcc and a CUDA LibTorch: SSMLAB_WITH_CUDA)");
}
#endif

void check_state_update_inputs(const torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                               const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                               const torch::Tensor& D_skip, const torch::Tensor& z, const torch::Tensor& dt_bias) {
  auto fail = [](const std::string& name, const torch::Tensor& t, const std::string& want) {
    std::ostringstream os;
    os << "selective_state_update: " << name << " has shape " << (t.defined() ? t.sizes() : torch::IntArrayRef{})
       << (t.defined() ? "" : " (undefined)") << ", expected " << want;
    throw std::invalid_argument(os.str());
  };
  if (!state.defined() || state.dim() != 3) fail("state", state, "(Bt, D, N)");
  const int64_t Bt = state.size(0), D = state.size(1), N = state.size(2);
  const std::string bd = "(" + std::to_string(Bt) + ", " + std::to_string(D) + ")";
  const std::string bn = "(" + std::to_string(Bt) + ", " + std::to_string(N) + ")";
  const std::string dn = "(" + std::to_string(D) + ", " + std::to_string(N) + ")";
  const std::string d1 = "(" + std::to_string(D) + ")";
  auto is = [](const torch::Tensor& t, std::initializer_list<int64_t> s) { return t.defined() && t.sizes() == torch::IntArrayRef(s); };
  if (!is(x, {Bt, D})) fail("x", x, bd);
  if (!is(dt, {Bt, D})) fail("dt", dt, bd);
  if (!is(A, {D, N})) fail("A", A, dn);
  if (!is(B, {Bt, N})) fail("B", B, bn);
  if (!is(C, {Bt, N})) fail("C", C, bn);
  if (z.defined() && !is(z, {Bt, D})) fail("z", z, bd);
  if (D_skip.defined() && !is(D_skip, {D})) fail("D_skip", D_skip, d1);
  if (dt_bias.defined() && !is(dt_bias, {D})) fail("dt_bias", dt_bias, d1);
  if (state.scalar_type() != torch::kFloat32 && state.scalar_type() != torch::kFloat64)
    throw std::invalid_argument(std::string("selective_state_update: state must be fp32 or fp64, got ") +
                                c10::toString(state.scalar_type()));
}

torch::Tensor selective_state_update_ref(torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                         const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                         const torch::Tensor& D_skip, const torch::Tensor& z,
                                         const torch::Tensor& dt_bias, bool dt_softplus) {
  check_state_update_inputs(state, x, dt, A, B, C, D_skip, z, dt_bias);
  const auto f = state.scalar_type();                                     // fp32 (fp64 in the exact tests)
  auto delta = dt.to(f);
  if (dt_bias.defined()) delta = delta + dt_bias.to(f);
  if (dt_softplus) delta = F::softplus(delta);                            // (Bt, D)
  auto dA = torch::exp(delta.unsqueeze(-1) * A.to(f));                    // (Bt, D, N)
  auto dBu = delta.unsqueeze(-1) * B.to(f).unsqueeze(1) * x.to(f).unsqueeze(-1);  // (Bt, D, N)
  if (torch::GradMode::is_enabled()) state = state * dA + dBu;           // h = exp(Δ A) h + Δ B x, a new tensor
  else state.mul_(dA).add_(dBu);                                          //   ... in place
  auto y = torch::matmul(state, C.to(f).unsqueeze(-1)).squeeze(-1);       // (Bt, D) = <h, C>
  if (D_skip.defined()) y = y + D_skip.to(f) * x.to(f);
  if (z.defined()) y = y * torch::silu(z.to(f));
  return y.to(x.scalar_type());
}

torch::Tensor selective_state_update(torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                     const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                     const torch::Tensor& D_skip, const torch::Tensor& z, const torch::Tensor& dt_bias,
                                     bool dt_softplus, KernelImpl impl) {
  if (impl == KernelImpl::Auto)
    impl = !torch::GradMode::is_enabled() && state_update_cuda_supports(state, x, dt, A, B, C, D_skip, z, dt_bias, nullptr)
               ? KernelImpl::Cuda
               : KernelImpl::Reference;
  if (impl == KernelImpl::Cuda)
    return selective_state_update_cuda(state, x, dt, A, B, C, D_skip, z, dt_bias, dt_softplus);
  return selective_state_update_ref(state, x, dt, A, B, C, D_skip, z, dt_bias, dt_softplus);  // Reference, CpuFused
}

}  // namespace ssmlab::kernels
