// elem_io.cuh — the element loads and stores every CUDA kernel here shares: tensors hold fp32 or bf16
// (elem_t), arithmetic is fp32. ld(p, i) reads element i as float; st(p, i, v) writes v rounded to p's type.
#pragma once

#include <cuda_bf16.h>

#include <cstddef>

namespace ssmlab::kernels::cuda {

__device__ __forceinline__ float ld(const float* p, size_t i) { return p[i]; }
__device__ __forceinline__ float ld(const __nv_bfloat16* p, size_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void st(float* p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void st(__nv_bfloat16* p, size_t i, float v) { p[i] = __float2bfloat16(v); }

}  // namespace ssmlab::kernels::cuda
