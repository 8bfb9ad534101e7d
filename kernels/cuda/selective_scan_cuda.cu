// selective_scan_cuda.cu — CUDA selective scan, forward and backward (twin of selective_scan_ref.cpp).
//
// One warp per block, one thread per (b, d) channel, 16 states in registers, a sequential walk over L in
// chunks of kScanChunk = 32 timesteps. N > 16 runs one launch per slice of 16 states (ScanParams::n0); the
// slices' y and du/ddelta are summed in fp32 and the z gate applied by the binding (selective_scan_cuda.cpp).
//  - Each chunk is staged through shared memory with coalesced loads (u, delta → dt = softplus(delta + bias)
//    computed once per element, B/C rows of the warp's group), then every lane scans its channel.
//  - All of a chunk's loads are issued before any is used (load_chunk, then commit_chunk), and the forward
//    issues chunk c+1's loads before scanning chunk c, so the memory round trip overlaps the scan. (The
//    first version issued a few rows at a time: 2.15 ms for the bench_scan fp32 forward, 5.6 % of HBM.)
//  - exp(dt·A) is exp2(dt · A·log2 e) (A pre-scaled), so it maps to one MUFU.EX2.
//  - The forward writes the state at each chunk's start (chunk_states) when a backward will follow.
//  - The backward walks the chunks in reverse, each as two halves (second half first): it recomputes the
//    states from the chunk's saved start into shared memory (half a chunk of them, (kScanChunk/2 + 1) × 16 × 32
//    floats, so three blocks fit on an SM), then runs the reverse scan over that half
//      dh_t = a_{t+1} dh_{t+1} + g_t C_t   (g = gradient reaching y, after the z gate)
//    dB and dC are summed over the warp's 32 channels with a shuffle transpose-reduction (16 shuffles
//    per 16 values) and added to global memory with one fp32 atomic per (t, n) per warp.
// I/O: u, delta, z, B, C and out/du/ddelta/dz in fp32 or bf16; everything is accumulated in fp32.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/elem_io.cuh"
#include "kernels/cuda/selective_scan_cuda.h"

namespace ssmlab::kernels::cuda {
namespace {

constexpr int kN = kScanMaxN;
constexpr int kT = kScanChunk;
constexpr int kW = kScanChannels;  // == warp size
constexpr int kHalf = kT / 2;      // the backward keeps the states of half a chunk at a time
constexpr int kBCStride = kN + 4;  // row stride of the B/C tiles (float4-aligned, fewer bank conflicts)
constexpr float kLog2e = 1.4426950408889634f;
constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

__device__ __forceinline__ float softplus(float x) { return x <= 20.f ? log1pf(__expf(x)) : x; }
__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + __expf(-x)); }

struct Tiles {  // shared memory common to forward and backward
  float u[kW][kT + 1];
  float dt[kW][kT + 1];
  float aux[kW][kT + 1];  // forward: y; backward: sigmoid(delta + bias) for ddelta
  float B[kT][kBCStride];
  float C[kT][kBCStride];
};

// One chunk [t0, t0 + kT) of rows d0..d0+31 of batch row b, as loaded from global memory: lane holds
// time t0 + lane of every row (u, delta) and of every state (B, C), still in the input dtype, so that no
// instruction waits on a load before the chunk is committed. Issuing all ~100 loads before the first
// use keeps them in flight together (one memory round trip per chunk instead of one per few rows); the
// forward issues the next chunk's loads before scanning the current one, so the round trip overlaps it.
template <typename T>
struct ChunkLoads {
  T u[kW], delta[kW], B[kN], C[kN];
};

// Rows d0..d0+31 of a (Bt, D, L) tensor at time t0 + lane, all loads issued before any use.
template <typename T>
__device__ __forceinline__ void load_rows(const T* x, size_t row0, int seqlen, bool ok, T (&v)[kW]) {
#pragma unroll
  for (int r = 0; r < kW; ++r) v[r] = ok ? x[row0 + size_t(r) * seqlen] : T{};
}

template <typename T>
__device__ __forceinline__ void load_chunk(const ScanParams& p, ChunkLoads<T>& in, int b, int d0, int gB, int gC,
                                           int t0, int lane) {
  const int t = t0 + lane;
  const bool ok = t < p.seqlen;
  const size_t row0 = (size_t(b) * p.dim + d0) * p.seqlen + t;
  load_rows(static_cast<const T*>(p.u), row0, p.seqlen, ok, in.u);
  load_rows(static_cast<const T*>(p.delta), row0, p.seqlen, ok, in.delta);
  const T* Bp = static_cast<const T*>(p.B) + ((size_t(b) * p.groups_B + gB) * p.dstate + p.n0) * p.seqlen + t;
  const T* Cp = static_cast<const T*>(p.C) + ((size_t(b) * p.groups_C + gC) * p.dstate + p.n0) * p.seqlen + t;
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    const bool okn = ok && p.n0 + n < p.dstate;
    in.B[n] = okn ? Bp[size_t(n) * p.seqlen] : T{};
    in.C[n] = okn ? Cp[size_t(n) * p.seqlen] : T{};
  }
}

// Write a loaded chunk to the shared tiles: u, dt = softplus(delta + bias) (computed once per element),
// B/C rows, and for the backward sigmoid(delta + bias). Steps past L get dt = u = 0, which leaves the
// state untouched (exp(0) = 1, no input).
template <typename T>
__device__ __forceinline__ void commit_chunk(const ScanParams& p, const ChunkLoads<T>& in, Tiles& s, int t0, int lane,
                                             float bias_lane, bool need_sigmoid) {
  const bool ok = t0 + lane < p.seqlen;
#pragma unroll
  for (int r = 0; r < kW; ++r) {
    const float bias_r = __shfl_sync(kFull, bias_lane, r);
    float uv = 0.f, dtv = 0.f, sg = 0.f;
    if (ok) {
      uv = to_float(in.u[r]);
      const float x = to_float(in.delta[r]) + bias_r;
      dtv = p.delta_softplus ? softplus(x) : x;
      if (need_sigmoid) sg = p.delta_softplus ? sigmoid(x) : 1.f;
    }
    s.u[r][lane] = uv;
    s.dt[r][lane] = dtv;
    if (need_sigmoid) s.aux[r][lane] = sg;
  }
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    s.B[lane][n] = to_float(in.B[n]);  // zero where not loaded
    s.C[lane][n] = to_float(in.C[n]);
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

// One step of lane's channel: h ← exp(dt·A) h + dt·u·B_i, returns y_i = C_i·h + D·u (before the z gate).
__device__ __forceinline__ float scan_step(const Tiles& s, int i, int lane, const float (&A2)[kN], float Dv,
                                           float (&h)[kN]) {
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
  return y;
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
    A2[n] = p.n0 + n < p.dstate ? p.A[size_t(ch.d) * p.dstate + p.n0 + n] * kLog2e : 0.f;
    h[n] = 0.f;
  }
  const float Dv = p.D_skip ? p.D_skip[ch.d] : 0.f;
  const float bias = p.delta_bias ? p.delta_bias[ch.d] : 0.f;
  const size_t bd = size_t(ch.b) * p.dim + ch.d;
  const T* z = static_cast<const T*>(p.z);
  T* out = static_cast<T*>(p.out);
  ChunkLoads<T> next;  // the chunk after the one being scanned, in flight
  load_chunk<T>(p, next, ch.b, ch.d0, ch.gB, ch.gC, 0, lane);
  for (int c = 0; c < nchunks; ++c) {
    const int t0 = c * kT;
    if (p.chunk_states) {
      float* cs = p.chunk_states + (bd * nchunks + c) * p.dstate + p.n0;
#pragma unroll
      for (int n = 0; n < kN; ++n)
        if (p.n0 + n < p.dstate) cs[n] = h[n];
    }
    commit_chunk<T>(p, next, s, t0, lane, bias, false);
    __syncwarp();
    if (c + 1 < nchunks) load_chunk<T>(p, next, ch.b, ch.d0, ch.gB, ch.gC, t0 + kT, lane);
#pragma unroll 2
    for (int i = 0; i < kT; ++i) s.aux[lane][i] = scan_step(s, i, lane, A2, Dv, h);
    __syncwarp();
    // epilogue: coalesced rows, z gate
    const int t = t0 + lane;
    const bool ok = t < p.seqlen;
    const size_t row0 = (size_t(ch.b) * p.dim + ch.d0) * p.seqlen + t;
    if (p.y_partial) {  // one slice of the states: the first writes y, the others add (all loads first)
      if (ok) {
        float prev[kW];
#pragma unroll
        for (int r = 0; r < kW; ++r) prev[r] = p.n0 ? p.y_partial[row0 + size_t(r) * p.seqlen] : 0.f;
#pragma unroll
        for (int r = 0; r < kW; ++r) p.y_partial[row0 + size_t(r) * p.seqlen] = prev[r] + s.aux[r][lane];
      }
    } else if (z) {
      T zr[kW];
      load_rows<T>(z, row0, p.seqlen, ok, zr);
#pragma unroll
      for (int r = 0; r < kW; ++r) {
        const float zz = to_float(zr[r]);
        if (ok) st(out, row0 + size_t(r) * p.seqlen, s.aux[r][lane] * zz * sigmoid(zz));
      }
    } else if (ok) {
#pragma unroll 8
      for (int r = 0; r < kW; ++r) st(out, row0 + size_t(r) * p.seqlen, s.aux[r][lane]);
    }
    __syncwarp();
  }
#pragma unroll
  for (int n = 0; n < kN; ++n)
    if (p.n0 + n < p.dstate) p.last_state[bd * p.dstate + p.n0 + n] = h[n];
}

struct BwdTiles {
  Tiles t;
  float dout[kW][kT + 1];  // becomes du after the reverse scan
  float dd[kW][kT + 1];    // ddelta
  float dz[kW][kT + 1];
  float y[kW][kT + 1];     // pre-gate y (for dz)
  // States of one half chunk, per lane: h[0] before its first step, h[1 + j] after step j. Half a chunk
  // (34 KB instead of 66 KB) lets 3 blocks share an SM, so the bench shape (384 blocks) runs in one wave.
  float h[kHalf + 1][kN][kW];
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
    const bool okn = p.n0 + n < p.dstate;
    A[n] = okn ? p.A[size_t(ch.d) * p.dstate + p.n0 + n] : 0.f;
    A2[n] = A[n] * kLog2e;
    dh[n] = (p.dlast && okn) ? p.dlast[bd * p.dstate + p.n0 + n] : 0.f;
    dA[n] = 0.f;
  }
  const float Dv = p.D_skip ? p.D_skip[ch.d] : 0.f;
  const float bias = p.delta_bias ? p.delta_bias[ch.d] : 0.f;
  float dD = 0.f, dbias = 0.f;
  const T* z = static_cast<const T*>(p.z);
  const T* dout = static_cast<const T*>(p.dout);
  for (int c = nchunks - 1; c >= 0; --c) {
    const int t0 = c * kT;
    {
      ChunkLoads<T> in;
      load_chunk<T>(p, in, ch.b, ch.d0, ch.gB, ch.gC, t0, lane);
      commit_chunk<T>(p, in, s.t, t0, lane, bias, true);
    }
    {  // dout and z rows (coalesced; out-of-range steps read as 0)
      const int t = t0 + lane;
      const size_t row0 = (size_t(ch.b) * p.dim + ch.d0) * p.seqlen + t;
      T v[kW];
      load_rows<T>(dout, row0, p.seqlen, t < p.seqlen, v);
#pragma unroll
      for (int r = 0; r < kW; ++r) s.dout[r][lane] = to_float(v[r]);
      if (z) {
        load_rows<T>(z, row0, p.seqlen, t < p.seqlen, v);
#pragma unroll
        for (int r = 0; r < kW; ++r) s.dz[r][lane] = to_float(v[r]);  // holds z until replaced by dz
      }
    }
    __syncwarp();
    const float* cs = p.chunk_states + (bd * nchunks + c) * p.dstate + p.n0;
    for (int base = kHalf; base >= 0; base -= kHalf) {  // second half of the chunk first
      // 1. recompute the states from the chunk's saved start (the second half replays the first half too),
      //    keeping this half's states in s.h and every step's pre-gate y in s.y
      float h[kN];
#pragma unroll
      for (int n = 0; n < kN; ++n) h[n] = p.n0 + n < p.dstate ? cs[n] : 0.f;
      for (int i = 0; i < base; ++i) s.y[lane][i] = scan_step(s.t, i, lane, A2, Dv, h);
#pragma unroll
      for (int n = 0; n < kN; ++n) s.h[0][n][lane] = h[n];
#pragma unroll 2
      for (int j = 0; j < kHalf; ++j) {
        s.y[lane][base + j] = scan_step(s.t, base + j, lane, A2, Dv, h);
#pragma unroll
        for (int n = 0; n < kN; ++n) s.h[1 + j][n][lane] = h[n];
      }
      // 2. reverse scan over this half
      for (int i = base + kHalf - 1; i >= base; --i) {
        const int t = t0 + i;
        const float dtv = s.t.dt[lane][i], uv = s.t.u[lane][i], duv = dtv * uv;
        float g = s.dout[lane][i];
        if (z) {
          const float zz = s.dz[lane][i], sz = sigmoid(zz);
          s.dz[lane][i] = g * s.y[lane][i] * sz * (1.f + zz * (1.f - sz));
          g *= zz * sz;
        }
        dD += g * uv;
        float Bv[kN], Cv[kN], dBv[kN], dCv[kN];
        load_bc(s.t.B[i], Bv);
        load_bc(s.t.C[i], Cv);
        float ddu = 0.f, dda = 0.f;
#pragma unroll
        for (int n = 0; n < kN; ++n) {
          const float ht = s.h[1 + i - base][n][lane];
          const float hp = s.h[i - base][n][lane];
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
        const int n = p.n0 + (lane >> 1);
        if (!(lane & 1) && n < p.dstate && t < p.seqlen) {
          atomicAdd(p.dB + ((size_t(ch.b) * p.groups_B + ch.gB) * p.dstate + n) * p.seqlen + t, sB);
          atomicAdd(p.dC + ((size_t(ch.b) * p.groups_C + ch.gC) * p.dstate + n) * p.seqlen + t, sC);
        }
      }
    }
    __syncwarp();
    {  // write du, ddelta, dz rows (coalesced)
      const int t = t0 + lane;
      if (t < p.seqlen) {
        T* du = static_cast<T*>(p.du);
        T* ddelta = static_cast<T*>(p.ddelta);
        T* dz = static_cast<T*>(p.dz);
        if (p.accumulate_f32) {  // one slice of N > kScanMaxN states: add this slice's part
          float* du32 = static_cast<float*>(p.du);
          float* dd32 = static_cast<float*>(p.ddelta);
          const size_t idx0 = (size_t(ch.b) * p.dim + ch.d0) * p.seqlen + t;
#pragma unroll 2
          for (int r0 = 0; r0 < kW; r0 += 16) {  // issue 32 loads before the first add (the first slice writes)
            float pu[16], pd[16];
#pragma unroll
            for (int r = 0; r < 16; ++r) {
              pu[r] = p.n0 ? du32[idx0 + size_t(r0 + r) * p.seqlen] : 0.f;
              pd[r] = p.n0 ? dd32[idx0 + size_t(r0 + r) * p.seqlen] : 0.f;
            }
#pragma unroll
            for (int r = 0; r < 16; ++r) {
              du32[idx0 + size_t(r0 + r) * p.seqlen] = pu[r] + s.dout[r0 + r][lane];
              dd32[idx0 + size_t(r0 + r) * p.seqlen] = pd[r] + s.dd[r0 + r][lane];
            }
          }
        } else {
#pragma unroll 4
          for (int r = 0; r < kW; ++r) {
            const size_t idx = (size_t(ch.b) * p.dim + ch.d0 + r) * p.seqlen + t;
            st(du, idx, s.dout[r][lane]);
            st(ddelta, idx, s.dd[r][lane]);
            if (z) st(dz, idx, s.dz[r][lane]);
          }
        }
      }
    }
    __syncwarp();
  }
#pragma unroll
  for (int n = 0; n < kN; ++n)
    if (p.n0 + n < p.dstate) atomicAdd(p.dA + size_t(ch.d) * p.dstate + p.n0 + n, dA[n]);
  if (p.dD) atomicAdd(p.dD + ch.d, dD);
  if (p.ddelta_bias) atomicAdd(p.ddelta_bias + ch.d, dbias);
}

bool shape_ok(const ScanParams& p) {
  return p.batch > 0 && p.dim > 0 && p.seqlen > 0 && p.dstate > 0 && p.n0 >= 0 && p.n0 < p.dstate &&
         p.dim % kW == 0 && p.groups_B > 0 && p.groups_C > 0 && (p.dim / p.groups_B) % kW == 0 &&
         (p.dim / p.groups_C) % kW == 0 && p.dim % p.groups_B == 0 && p.dim % p.groups_C == 0;
}
// All states in one launch, or one slice of them with the partial results summed by the caller.
bool whole(const ScanParams& p) { return p.n0 == 0 && p.dstate <= kN; }

}  // namespace

cudaError_t scan_fwd_launch(const ScanParams& p, cudaStream_t stream) {
  if (!shape_ok(p) || !(whole(p) || (p.y_partial && !p.z))) return cudaErrorInvalidValue;
  const dim3 grid(p.batch * (p.dim / kW));
  if (p.bf16)
    scan_fwd_kernel<__nv_bfloat16><<<grid, kW, 0, stream>>>(p);
  else
    scan_fwd_kernel<float><<<grid, kW, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t scan_bwd_launch(const ScanParams& p, cudaStream_t stream) {
  if (!shape_ok(p) || !p.chunk_states || !p.dout || !p.du || !p.ddelta || !p.dA || !p.dB || !p.dC ||
      (p.z && !p.dz) || !(whole(p) || (p.accumulate_f32 && !p.z)))
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
