// selective_state_update_cuda.cpp — the CUDA path of selective_state_update.h (built only with
// SSMLAB_WITH_CUDA): checks what the fused kernel takes, fills StateUpdateParams, launches on the current stream.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <sstream>
#include <stdexcept>
#include <string>

#include "kernels/cuda/state_update_cuda.h"
#include "kernels/selective_state_update.h"

namespace ssmlab::kernels {

namespace kc = ssmlab::kernels::cuda;

bool state_update_cuda_supports(const torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                const torch::Tensor& D_skip, const torch::Tensor& z, const torch::Tensor& dt_bias,
                                std::string* why) {
  auto no = [&](const std::string& w) {
    if (why) *why = w;
    return false;
  };
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
  return true;
}

torch::Tensor selective_state_update_cuda(torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                          const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                          const torch::Tensor& D_skip, const torch::Tensor& z,
                                          const torch::Tensor& dt_bias, bool dt_softplus) {
  check_state_update_inputs(state, x, dt, A, B, C, D_skip, z, dt_bias);
  std::string why;
  if (!state_update_cuda_supports(state, x, dt, A, B, C, D_skip, z, dt_bias, &why))
    throw std::invalid_argument("selective_state_update[cuda]: " + why);
  if (torch::GradMode::is_enabled() &&
      (state.requires_grad() || x.requires_grad() || dt.requires_grad() || A.requires_grad() || B.requires_grad() ||
       C.requires_grad() || (z.defined() && z.requires_grad())))
    throw std::invalid_argument("selective_state_update[cuda]: no backward; use the reference under autograd");
  const c10::cuda::CUDAGuard guard(state.device());
  auto out = torch::empty_like(x);
  kc::StateUpdateParams p;
  p.batch = static_cast<int>(state.size(0));
  p.dim = static_cast<int>(state.size(1));
  p.dstate = static_cast<int>(state.size(2));
  p.bf16 = x.scalar_type() == torch::kBFloat16;
  p.dt_softplus = dt_softplus;
  p.state = state.data_ptr<float>();
  p.x = x.data_ptr();
  p.dt = dt.data_ptr();
  p.z = z.defined() ? z.data_ptr() : nullptr;
  p.B = B.data_ptr();
  p.C = C.data_ptr();
  p.A = A.data_ptr<float>();
  p.D_skip = D_skip.defined() ? D_skip.data_ptr<float>() : nullptr;
  p.dt_bias = dt_bias.defined() ? dt_bias.data_ptr<float>() : nullptr;
  p.out = out.data_ptr();
  p.B_row_stride = B.stride(0);
  p.C_row_stride = C.stride(0);
  p.z_row_stride = z.defined() ? z.stride(0) : 0;
  const cudaError_t e = kc::state_update_launch(p, c10::cuda::getCurrentCUDAStream());
  if (e != cudaSuccess) throw std::runtime_error(std::string("selective_state_update[cuda]: launch: ") + cudaGetErrorString(e));
  return out;
}

}  // namespace ssmlab::kernels
