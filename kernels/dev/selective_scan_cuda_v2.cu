// kernels/dev/selective_scan_cuda_v2.cu — NOT BUILT, NOT VALIDATED ON A GPU. Version 2 of cuda/selective_scan_cuda.cu:
// the only change is that stage_chunk issues all of a chunk's global loads (u, delta, B, C, z / dout) into
// register arrays before the first use, and z is staged with them. Prediction: version 1 (2.15 ms fwd at
// B8 D1536 L2048 N16) is latency-bound on ~3 warps/SM with a few loads in flight per warp, so this should
// cut the forward several-fold. ptxas: fwd 254 regs no spill; bwd fp32 255 regs, 72 B spill. Promote it to
// cuda/ only after test_scan_cuda passes on the GPU machine and bench_scan shows the gain.

// selective_scan_cuda.cu — CUDA selective scan, forward and backward (twin of selective_scan_ref.cpp).
//
// Version 1 (this file): one warp per block, one thread per (b, d) channel, all N ≤ 16 states in
// registers, a sequential walk over L in chunks of kScanChunk = 32 timesteps.
//  - Each chunk is staged through shared memory with coalesced loads (u, delta → dt = softplus(delta + bias)
//    computed once per element, B/C rows of the warp's group), then every lane scans its channel.
//  - exp(dt·A) is exp2(dt · A·log2 e) (A pre-scaled), so it maps to one MUFU.EX2.
//  - The forward writes the state at each chunk's start (chunk_states) when a backward will follow.
//  - The backward walks the chunks in reverse: it recomputes the chunk's states from the saved start
//    (into shared memory, kScanChunk × 16 × 32 floats), then runs the reverse scan
//      dh_t = a_{t+1} dh_{t+1} + g_t C_t   (g = gradient reaching y, after the z gate)
//    dB and dC are summed over the warp's 32 channels with a shuffle transpose-reduction (16 shuffles
//    per 16 values) and added to global memory with one fp32 atomic per (t, n) per warp.
// I/O: u, delta, z, B, C and out/du/ddelta/dz in fp32 or bf16; everything is accumulated in fp32.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "selective_scan_cuda.h"

namespace ssmlab::kernels::cuda {
namespace {

constexpr int kN = kScanMaxN;
constexpr int kT = kScanChunk;
constexpr int kW = kScanChannels;  // == warp size
constexpr int kBCStride = kN + 4;  // row stride of the B/C tiles (float4-aligned, fewer bank conflicts)
constexpr float kLog2e = 1.4426950408889634f;
constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ float load(const float* p, size_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16* p, size_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void store(float* p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, size_t i, float v) { p[i] = __float2bfloat16(v); }

__device__ __forceinline__ float softplus(float x) { return x <= 20.f ? log1pf(__expf(x)) : x; }
__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + __expf(-x)); }

struct Tiles {  // shared memory common to forward and backward
  float u[kW][kT + 1];
  float dt[kW][kT + 1];
  float aux[kW][kT + 1];  // forward: y; backward: sigmoid(delta + bias) for ddelta
  float z[kW][kT + 1];    // forward: z; backward: z, replaced by dz
  float B[kT][kBCStride];
  float C[kT][kBCStride];
};

// Stage chunk [t0, t0 + kT) of rows d0..d0+31 of batch row b; out-of-range steps get dt = u = 0,
// which leaves the state untouched (exp(0) = 1, no input). All global loads of the chunk are issued
// before the first use (register arrays), so a warp has ~100 loads in flight instead of a few:
// with one warp per 32 channels there are only a few warps per SM to hide memory latency.
template <typename T>
__device__ __forceinline__ void stage_chunk(const ScanParams& p, Tiles& s, int b, int d0, int gB, int gC, int t0,
                                            int lane, float bias_lane, bool need_sigmoid, const T* extra,
                                            float (*extra_dst)[kT + 1]) {
  const T* u = static_cast<const T*>(p.u);
  const T* delta = static_cast<const T*>(p.delta);
  const int t = t0 + lane;
  const bool in = t < p.seqlen;
  const size_t base = (size_t(b) * p.dim + d0) * p.seqlen + t;
  float uv[kW], dv[kW];
#pragma unroll
  for (int r = 0; r < kW; ++r) {
    uv[r] = in ? load(u, base + size_t(r) * p.seqlen) : 0.f;
    dv[r] = in ? load(delta, base + size_t(r) * p.seqlen) : 0.f;
  }
  const T* Bp = static_cast<const T*>(p.B) + (size_t(b) * p.groups_B + gB) * p.dstate * p.seqlen;
  const T* Cp = static_cast<const T*>(p.C) + (size_t(b) * p.groups_C + gC) * p.dstate * p.seqlen;
  float bv[kN], cv[kN];
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    const bool ok = in && n < p.dstate;
    bv[n] = ok ? load(Bp, size_t(n) * p.seqlen + t) : 0.f;
    cv[n] = ok ? load(Cp, size_t(n) * p.seqlen + t) : 0.f;
  }
  if (extra) {  // z (forward) or dout (backward), staged the same way
    float ev[kW];
#pragma unroll
    for (int r = 0; r < kW; ++r) ev[r] = in ? load(extra, base + size_t(r) * p.seqlen) : 0.f;
#pragma unroll
    for (int r = 0; r < kW; ++r) extra_dst[r][lane] = ev[r];
  }
#pragma unroll
  for (int r = 0; r < kW; ++r) {
    const float x = dv[r] + __shfl_sync(kFull, bias_lane, r);
    s.u[r][lane] = uv[r];
    s.dt[r][lane] = in ? (p.delta_softplus ? softplus(x) : x) : 0.f;
    if (need_sigmoid) s.aux[r][lane] = p.delta_softplus ? sigmoid(x) : 1.f;
  }
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    s.B[lane][n] = bv[n];
    s.C[lane][n] = cv[n];
  }
}

__device__ __forceinline__ void load_bc(const float* row, float (&v)[kN]) {
#pragma unroll
  for (int n = 0; n < kN; n += 4) {
    const float4 q = *reinterpret_cast<const float4*>(row + n);
    v[n] = q.x, v[n + 1] = q.y, v[n + 2] = q.z, v[n + 3] = q.w;
  }
}

// Sum v[0..15] over the 32 lanes of the warp; lane l ends with the total of state n = l >> 1.
__device__ __forceinline__ float warp_transpose_sum16(const float (&v)[kN], int lane) {
  float w8[8], w4[4], w2[2];
  const bool b4 = lane & 16, b3 = lane & 8, b2 = lane & 4, b1 = lane & 2;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float keep = b4 ? v[j + 8] : v[j], send = b4 ? v[j] : v[j + 8];
    w8[j] = keep + __shfl_xor_sync(kFull, send, 16);
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float keep = b3 ? w8[j + 4] : w8[j], send = b3 ? w8[j] : w8[j + 4];
    w4[j] = keep + __shfl_xor_sync(kFull, send, 8);
  }
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const float keep = b2 ? w4[j + 2] : w4[j], send = b2 ? w4[j] : w4[j + 2];
    w2[j] = keep + __shfl_xor_sync(kFull, send, 4);
  }
  const float keep = b1 ? w2[1] : w2[0], send = b1 ? w2[0] : w2[1];
  const float w1 = keep + __shfl_xor_sync(kFull, send, 2);
  return w1 + __shfl_xor_sync(kFull, w1, 1);
}

struct Channel {
  int b, d0, d, gB, gC;
};
__device__ __forceinline__ Channel channel_of(const ScanParams& p) {
  const int warps_per_row = p.dim / kW;
  Channel c;
  c.b = blockIdx.x / warps_per_row;
  c.d0 = (blockIdx.x % warps_per_row) * kW;
  c.d = c.d0 + threadIdx.x;
  c.gB = c.d0 / (p.dim / p.groups_B);
  c.gC = c.d0 / (p.dim / p.groups_C);
  return c;
}

template <typename T>
__global__ void __launch_bounds__(kW) scan_fwd_kernel(ScanParams p) {
  __shared__ __align__(16) Tiles s;
  const int lane = threadIdx.x;
  const Channel ch = channel_of(p);
  const int nchunks = (p.seqlen + kT - 1) / kT;
  float A2[kN], h[kN];
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    A2[n] = n < p.dstate ? p.A[size_t(ch.d) * p.dstate + n] * kLog2e : 0.f;
    h[n] = 0.f;
  }
  const float Dv = p.D_skip ? p.D_skip[ch.d] : 0.f;
  const float bias = p.delta_bias ? p.delta_bias[ch.d] : 0.f;
  const size_t bd = size_t(ch.b) * p.dim + ch.d;
  for (int c = 0; c < nchunks; ++c) {
    const int t0 = c * kT;
    if (p.chunk_states) {
      float* cs = p.chunk_states + (bd * nchunks + c) * p.dstate;
#pragma unroll
      for (int n = 0; n < kN; ++n)
        if (n < p.dstate) cs[n] = h[n];
    }
    stage_chunk<T>(p, s, ch.b, ch.d0, ch.gB, ch.gC, t0, lane, bias, false, static_cast<const T*>(p.z), s.z);
    __syncwarp();
#pragma unroll 2
    for (int i = 0; i < kT; ++i) {
      const float dtv = s.dt[lane][i], uv = s.u[lane][i], duv = dtv * uv;
      float Bv[kN], Cv[kN];
      load_bc(s.B[i], Bv);
      load_bc(s.C[i], Cv);
      float y = Dv * uv;
#pragma unroll
      for (int n = 0; n < kN; ++n) {
        h[n] = fmaf(exp2f(dtv * A2[n]), h[n], duv * Bv[n]);
        y = fmaf(h[n], Cv[n], y);
      }
      s.aux[lane][i] = y;
    }
    __syncwarp();
    // epilogue: coalesced rows, z gate
    const int t = t0 + lane;
    if (t < p.seqlen) {
      T* out = static_cast<T*>(p.out);
#pragma unroll 8
      for (int r = 0; r < kW; ++r) {
        const size_t idx = (size_t(ch.b) * p.dim + ch.d0 + r) * p.seqlen + t;
        float y = s.aux[r][lane];
        if (p.z) {
          const float zz = s.z[r][lane];
          y *= zz * sigmoid(zz);
        }
        store(out, idx, y);
      }
    }
    __syncwarp();
  }
#pragma unroll
  for (int n = 0; n < kN; ++n)
    if (n < p.dstate) p.last_state[bd * p.dstate + n] = h[n];
}

struct BwdTiles {
  Tiles t;
  float dout[kW][kT + 1];  // becomes du after the reverse scan
  float dd[kW][kT + 1];    // ddelta
  float y[kW][kT + 1];     // pre-gate y (for dz)
  float h[kT][kN][kW];     // states of the chunk, per lane
};

template <typename T>
__global__ void __launch_bounds__(kW) scan_bwd_kernel(ScanParams p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  BwdTiles& s = *reinterpret_cast<BwdTiles*>(smem_raw);
  const int lane = threadIdx.x;
  const Channel ch = channel_of(p);
  const int nchunks = (p.seqlen + kT - 1) / kT;
  float A[kN], A2[kN], dh[kN], dA[kN];
  const size_t bd = size_t(ch.b) * p.dim + ch.d;
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    A[n] = n < p.dstate ? p.A[size_t(ch.d) * p.dstate + n] : 0.f;
    A2[n] = A[n] * kLog2e;
    dh[n] = (p.dlast && n < p.dstate) ? p.dlast[bd * p.dstate + n] : 0.f;
    dA[n] = 0.f;
  }
  const float Dv = p.D_skip ? p.D_skip[ch.d] : 0.f;
  const float bias = p.delta_bias ? p.delta_bias[ch.d] : 0.f;
  float dD = 0.f, dbias = 0.f;
  const T* z = static_cast<const T*>(p.z);
  const T* dout = static_cast<const T*>(p.dout);
  for (int c = nchunks - 1; c >= 0; --c) {
    const int t0 = c * kT;
    stage_chunk<T>(p, s.t, ch.b, ch.d0, ch.gB, ch.gC, t0, lane, bias, true, dout, s.dout);
    if (z) {  // z rows, replaced by dz in the reverse scan
      const int t = t0 + lane;
      const size_t base = (size_t(ch.b) * p.dim + ch.d0) * p.seqlen + t;
      float zv[kW];
#pragma unroll
      for (int r = 0; r < kW; ++r) zv[r] = t < p.seqlen ? load(z, base + size_t(r) * p.seqlen) : 0.f;
#pragma unroll
      for (int r = 0; r < kW; ++r) s.t.z[r][lane] = zv[r];
    }
    __syncwarp();
    // 1. recompute the chunk's states from its saved start
    float h0[kN], h[kN];
    const float* cs = p.chunk_states + (bd * nchunks + c) * p.dstate;
#pragma unroll
    for (int n = 0; n < kN; ++n) h0[n] = h[n] = n < p.dstate ? cs[n] : 0.f;
#pragma unroll 2
    for (int i = 0; i < kT; ++i) {
      const float dtv = s.t.dt[lane][i], uv = s.t.u[lane][i], duv = dtv * uv;
      float Bv[kN], Cv[kN];
      load_bc(s.t.B[i], Bv);
      load_bc(s.t.C[i], Cv);
      float y = Dv * uv;
#pragma unroll
      for (int n = 0; n < kN; ++n) {
        h[n] = fmaf(exp2f(dtv * A2[n]), h[n], duv * Bv[n]);
        y = fmaf(h[n], Cv[n], y);
        s.h[i][n][lane] = h[n];
      }
      s.y[lane][i] = y;
    }
    // 2. reverse scan over the chunk
    for (int i = kT - 1; i >= 0; --i) {
      const int t = t0 + i;
      const float dtv = s.t.dt[lane][i], uv = s.t.u[lane][i], duv = dtv * uv;
      float g = s.dout[lane][i];
      if (z) {
        const float zz = s.t.z[lane][i], sz = sigmoid(zz);
        s.t.z[lane][i] = g * s.y[lane][i] * sz * (1.f + zz * (1.f - sz));
        g *= zz * sz;
      }
      dD += g * uv;
      float Bv[kN], Cv[kN], dBv[kN], dCv[kN];
      load_bc(s.t.B[i], Bv);
      load_bc(s.t.C[i], Cv);
      float ddu = 0.f, dda = 0.f;
#pragma unroll
      for (int n = 0; n < kN; ++n) {
        const float ht = s.h[i][n][lane];
        const float hp = i > 0 ? s.h[i - 1][n][lane] : h0[n];
        const float a = exp2f(dtv * A2[n]);
        const float dhn = fmaf(g, Cv[n], dh[n]);  // y_t = Σ h_t C_t
        dCv[n] = g * ht;
        dBv[n] = dhn * duv;                          // h_t = a_t h_{t-1} + dt u B_t
        ddu = fmaf(dhn, Bv[n], ddu);
        const float sdA = dhn * hp * a;              // ∂/∂(dt A) of a_t h_{t-1}
        dA[n] = fmaf(sdA, dtv, dA[n]);
        dda = fmaf(sdA, A[n], dda);
        dh[n] = dhn * a;
      }
      const float ddt = fmaf(ddu, uv, dda);
      const float dd = ddt * s.t.aux[lane][i];
      dbias += dd;
      s.dout[lane][i] = fmaf(ddu, dtv, g * Dv);  // du
      s.dd[lane][i] = dd;
      const float sB = warp_transpose_sum16(dBv, lane);
      const float sC = warp_transpose_sum16(dCv, lane);
      const int n = lane >> 1;
      if (!(lane & 1) && n < p.dstate && t < p.seqlen) {
        atomicAdd(p.dB + ((size_t(ch.b) * p.groups_B + ch.gB) * p.dstate + n) * p.seqlen + t, sB);
        atomicAdd(p.dC + ((size_t(ch.b) * p.groups_C + ch.gC) * p.dstate + n) * p.seqlen + t, sC);
      }
    }
    __syncwarp();
    {  // write du, ddelta, dz rows (coalesced)
      const int t = t0 + lane;
      if (t < p.seqlen) {
        T* du = static_cast<T*>(p.du);
        T* ddelta = static_cast<T*>(p.ddelta);
        T* dz = static_cast<T*>(p.dz);
#pragma unroll 4
        for (int r = 0; r < kW; ++r) {
          const size_t idx = (size_t(ch.b) * p.dim + ch.d0 + r) * p.seqlen + t;
          store(du, idx, s.dout[r][lane]);
          store(ddelta, idx, s.dd[r][lane]);
          if (z) store(dz, idx, s.t.z[r][lane]);
        }
      }
    }
    __syncwarp();
  }
#pragma unroll
  for (int n = 0; n < kN; ++n)
    if (n < p.dstate) atomicAdd(p.dA + size_t(ch.d) * p.dstate + n, dA[n]);
  if (p.dD) atomicAdd(p.dD + ch.d, dD);
  if (p.ddelta_bias) atomicAdd(p.ddelta_bias + ch.d, dbias);
}

bool shape_ok(const ScanParams& p) {
  return p.batch > 0 && p.dim > 0 && p.seqlen > 0 && p.dstate > 0 && p.dstate <= kN && p.dim % kW == 0 &&
         p.groups_B > 0 && p.groups_C > 0 && (p.dim / p.groups_B) % kW == 0 && (p.dim / p.groups_C) % kW == 0 &&
         p.dim % p.groups_B == 0 && p.dim % p.groups_C == 0;
}

}  // namespace

cudaError_t scan_fwd_launch(const ScanParams& p, cudaStream_t stream) {
  if (!shape_ok(p)) return cudaErrorInvalidValue;
  const dim3 grid(p.batch * (p.dim / kW));
  if (p.bf16)
    scan_fwd_kernel<__nv_bfloat16><<<grid, kW, 0, stream>>>(p);
  else
    scan_fwd_kernel<float><<<grid, kW, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t scan_bwd_launch(const ScanParams& p, cudaStream_t stream) {
  if (!shape_ok(p) || !p.chunk_states || !p.dout || !p.du || !p.ddelta || !p.dA || !p.dB || !p.dC ||
      (p.z && !p.dz))
    return cudaErrorInvalidValue;
  const dim3 grid(p.batch * (p.dim / kW));
  const int smem = static_cast<int>(sizeof(BwdTiles));
  cudaError_t e;
  if (p.bf16) {
    e = cudaFuncSetAttribute(scan_bwd_kernel<__nv_bfloat16>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (e != cudaSuccess) return e;
    scan_bwd_kernel<__nv_bfloat16><<<grid, kW, smem, stream>>>(p);
  } else {
    e = cudaFuncSetAttribute(scan_bwd_kernel<float>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (e != cudaSuccess) return e;
    scan_bwd_kernel<float><<<grid, kW, smem, stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace ssmlab::kernels::cuda
