// conv1d_cuda.cu — causal depthwise conv1d + SiLU, forward and backward (Mamba's short convolution).
//
// Version 1: a block of 256 threads covers 256 timesteps of one (b, d) row; each thread computes one
// output from W ≤ 4 inputs (neighbours come through L1). The backward recomputes the pre-activation at
// the W outputs an input feeds, and sums dweight / dbias over the block (warp shuffles, then one
// atomic per block and tap). Memory-bound: one read of x (+ dout) and one write per element.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/elem_io.cuh"
#include "kernels/cuda/selective_scan_cuda.h"

namespace ssmlab::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxW = 4;

template <typename T>
__device__ __forceinline__ float pre_at(const ConvParams& p, const T* x, size_t row, int t, const float* w,
                                        float bias) {
  float acc = bias;
#pragma unroll
  for (int k = 0; k < kMaxW; ++k) {
    if (k >= p.width) break;
    const int ti = t - p.width + 1 + k;
    if (ti >= 0) acc = fmaf(w[k], ld(x, row + ti), acc);
  }
  return acc;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) conv1d_fwd_kernel(ConvParams p) {
  const int tiles = (p.seqlen + kThreads - 1) / kThreads;
  const int row_id = blockIdx.x / tiles, t = (blockIdx.x % tiles) * kThreads + threadIdx.x;
  const int d = row_id % p.dim;
  if (t >= p.seqlen) return;
  float w[kMaxW];
#pragma unroll
  for (int k = 0; k < kMaxW; ++k) w[k] = k < p.width ? p.weight[d * p.width + k] : 0.f;
  const float bias = p.bias ? p.bias[d] : 0.f;
  const size_t row = size_t(row_id) * p.seqlen;
  const T* x = static_cast<const T*>(p.x);
  float v = pre_at(p, x, row, t, w, bias);
  if (p.silu) v = v / (1.f + __expf(-v));
  st(static_cast<T*>(p.out), row + t, v);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) conv1d_bwd_kernel(ConvParams p) {
  __shared__ float red[kThreads / 32][kMaxW + 1];
  const int tiles = (p.seqlen + kThreads - 1) / kThreads;
  const int row_id = blockIdx.x / tiles, t = (blockIdx.x % tiles) * kThreads + threadIdx.x;
  const int d = row_id % p.dim;
  float w[kMaxW];
#pragma unroll
  for (int k = 0; k < kMaxW; ++k) w[k] = k < p.width ? p.weight[d * p.width + k] : 0.f;
  const float bias = p.bias ? p.bias[d] : 0.f;
  const size_t row = size_t(row_id) * p.seqlen;
  const T* x = static_cast<const T*>(p.x);
  const T* dout = static_cast<const T*>(p.dout);
  // g(t') = dout(t') · silu'(pre(t')), the gradient at the pre-activation
  auto g_at = [&](int tp) {
    const float pre = pre_at(p, x, row, tp, w, bias);
    float g = ld(dout, row + tp);
    if (p.silu) {
      const float s = 1.f / (1.f + __expf(-pre));
      g *= s * (1.f + pre * (1.f - s));
    }
    return g;
  };
  float dw[kMaxW] = {0.f, 0.f, 0.f, 0.f}, db = 0.f;
  if (t < p.seqlen) {
    // x[t] feeds out[t + W-1-k] through tap k
    float dx = 0.f;
#pragma unroll
    for (int k = 0; k < kMaxW; ++k) {
      if (k >= p.width) break;
      const int to = t + p.width - 1 - k;
      if (to < p.seqlen) dx = fmaf(w[k], g_at(to), dx);
    }
    st(static_cast<T*>(p.dx), row + t, dx);
    // this thread's output t contributes to dweight/dbias
    const float g = g_at(t);
    db = g;
#pragma unroll
    for (int k = 0; k < kMaxW; ++k) {
      const int ti = t - p.width + 1 + k;
      if (k < p.width && ti >= 0) dw[k] = g * ld(x, row + ti);
    }
  }
  // block reduction of dw, db
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int k = 0; k <= kMaxW; ++k) {
    float v = k < kMaxW ? dw[k] : db;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) red[warp][k] = v;
  }
  __syncthreads();
  if (threadIdx.x <= kMaxW) {
    float v = 0.f;
    for (int i = 0; i < kThreads / 32; ++i) v += red[i][threadIdx.x];
    if (threadIdx.x < p.width) atomicAdd(p.dweight + d * p.width + threadIdx.x, v);
    if (threadIdx.x == kMaxW && p.dbias) atomicAdd(p.dbias + d, v);
  }
}

bool ok(const ConvParams& p) {
  return p.batch > 0 && p.dim > 0 && p.seqlen > 0 && p.width >= 1 && p.width <= kMaxW && p.x && p.weight;
}


// One thread per (b, d) row of the state: W ≤ 4 values shifted in registers and written back.
template <typename T>
__global__ void __launch_bounds__(kThreads) conv1d_update_kernel(ConvUpdateParams p) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= p.batch * p.dim) return;
  const int b = i / p.dim, d = i % p.dim, W = p.width;
  T* s = static_cast<T*>(p.conv_state) + size_t(i) * W;
  float v[kMaxW];
#pragma unroll
  for (int k = 0; k < kMaxW - 1; ++k) v[k] = k + 1 < W ? ld(s, k + 1) : 0.f;
  const float x_new = ld(static_cast<const T*>(p.x), size_t(b) * p.x_row_stride + d);
  float acc = p.bias ? p.bias[d] : 0.f;
#pragma unroll
  for (int k = 0; k < kMaxW; ++k) {
    if (k >= W) break;
    const float val = k == W - 1 ? x_new : v[k];
    st(s, k, val);
    acc = fmaf(p.weight[d * W + k], val, acc);
  }
  if (p.silu) acc = acc / (1.f + __expf(-acc));
  st(static_cast<T*>(p.out), size_t(b) * p.dim + d, acc);
}
}  // namespace

cudaError_t conv1d_fwd_launch(const ConvParams& p, cudaStream_t stream) {
  if (!ok(p) || !p.out) return cudaErrorInvalidValue;
  const dim3 grid(p.batch * p.dim * ((p.seqlen + kThreads - 1) / kThreads));
  if (p.bf16)
    conv1d_fwd_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(p);
  else
    conv1d_fwd_kernel<float><<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t conv1d_bwd_launch(const ConvParams& p, cudaStream_t stream) {
  if (!ok(p) || !p.dout || !p.dx || !p.dweight) return cudaErrorInvalidValue;
  const dim3 grid(p.batch * p.dim * ((p.seqlen + kThreads - 1) / kThreads));
  if (p.bf16)
    conv1d_bwd_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(p);
  else
    conv1d_bwd_kernel<float><<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t conv1d_update_launch(const ConvUpdateParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.dim <= 0 || p.width < 1 || p.width > kMaxW) return cudaErrorInvalidValue;
  const int rows = p.batch * p.dim, blocks = (rows + kThreads - 1) / kThreads;
  if (p.bf16)
    conv1d_update_kernel<__nv_bfloat16><<<blocks, kThreads, 0, stream>>>(p);
  else
    conv1d_update_kernel<float><<<blocks, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace ssmlab::kernels::cuda
