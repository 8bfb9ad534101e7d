// state_update_cuda.cu — the fused decode step of Mamba's selective SSM (state_update_cuda.h): one thread per
// (batch row, channel) walks the N states of its channel; B and C of the row sit in shared memory.
// Replaces the ~12 LibTorch kernels of the reference step (softplus, exp, two products, the in-place update,
// the <h, C> product, the D skip and the z gate) by one launch.
#include <cuda_bf16.h>

#include "kernels/cuda/elem_io.cuh"
#include "kernels/cuda/state_update_cuda.h"

namespace ssmlab::kernels::cuda {
namespace {

constexpr int kThreads = 128;

template <typename T>
__global__ void state_update_kernel(StateUpdateParams p) {
  extern __shared__ float bc[];  // B (N) then C (N) of this batch row, as float
  const int b = blockIdx.y, N = p.dstate;
  const T* Bp = static_cast<const T*>(p.B);
  const T* Cp = static_cast<const T*>(p.C);
  for (int n = threadIdx.x; n < N; n += blockDim.x) {
    bc[n] = ld(Bp, size_t(b) * p.B_row_stride + n);
    bc[N + n] = ld(Cp, size_t(b) * p.C_row_stride + n);
  }
  __syncthreads();
  const int d = blockIdx.x * blockDim.x + threadIdx.x;
  if (d >= p.dim) return;
  const size_t bd = size_t(b) * p.dim + d;
  const float x = ld(static_cast<const T*>(p.x), bd);
  float delta = ld(static_cast<const T*>(p.dt), bd);
  if (p.dt_bias) delta += p.dt_bias[d];
  if (p.dt_softplus) delta = delta <= 20.f ? log1pf(expf(delta)) : delta;  // torch's softplus, threshold 20
  float* h = p.state + bd * N;
  const float* A = p.A + size_t(d) * N;
  const float dx = delta * x;
  float y = 0.f;
  for (int n = 0; n < N; ++n) {
    const float hn = h[n] * expf(delta * A[n]) + dx * bc[n];
    h[n] = hn;
    y += hn * bc[N + n];
  }
  if (p.D_skip) y += p.D_skip[d] * x;
  if (p.z) {
    const float z = ld(static_cast<const T*>(p.z), size_t(b) * p.z_row_stride + d);
    y *= z / (1.f + expf(-z));  // silu
  }
  st(static_cast<T*>(p.out), bd, y);
}

}  // namespace

cudaError_t state_update_launch(const StateUpdateParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.dim <= 0 || p.dstate <= 0) return cudaErrorInvalidValue;
  const dim3 grid((p.dim + kThreads - 1) / kThreads, p.batch);
  const size_t smem = 2 * size_t(p.dstate) * sizeof(float);
  if (p.bf16)
    state_update_kernel<__nv_bfloat16><<<grid, kThreads, smem, stream>>>(p);
  else
    state_update_kernel<float><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace ssmlab::kernels::cuda
