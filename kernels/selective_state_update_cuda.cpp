// selective_state_update_cuda.cpp — the CUDA path of selective_state_update.h (built only with
// SSMLAB_WITH_CUDA): checks what the fused kernel takes, fills StateUpdateParams, launches on the current stream.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <sstream>
#include <stdexcept>
#include <string>

#include "kernels/cuda/state_update_cuda.h"
#include "kernels/selective_state_update.h"
#include "kernels/selective_scan_internal.h"

namespace ssmlab::kernels {

namespace kc = ssmlab::kernels::cuda;

torch::Tensor selective_state_update_cuda(torch::Tensor& state, const torch::Tensor& x, const torch::Tensor& dt,
                                          const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                          const torch::Tensor& D_skip, const torch::Tensor& z,
                                          const torch::Tensor& dt_bias, bool dt_softplus) {
  check_state_update_inputs(state, x, dt, A, B, C, D_skip, z, dt_bias);
  std::string why;
  if (!state_update_cuda_supports(state, x, dt, A, B, C, D_skip, z, dt_bias, &why))
    throw std::invalid_argument("selective_state_update[cuda]: " + why);
  if (any_requires_grad({state, x, dt, A, B, C, D_skip, z, dt_bias}))
    throw std::invalid_argument("selective_state_update[cuda]: no backward; use the reference under autograd");
  const c10::cuda::CUDAGuard guard(state.device());
  auto out = torch::empty_like(x);
  if (out.numel() == 0) return out;  // an empty batch: nothing to launch
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
