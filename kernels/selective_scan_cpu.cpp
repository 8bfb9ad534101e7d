// selective_scan_cpu.cpp — the fused CPU selective scan, forward and backward; twin of selective_scan_ref.cpp.
//
// Legend: Bt batch, D channels, L sequence length, N states (padded to Np, a multiple of kLanes), G groups.
//
// Forward, per (b, d) channel, one pass over L with the N states in a local array:
//   a_t[n] = exp(dt_t * A[n]);  h_t[n] = a_t[n] * h_{t-1}[n] + dt_t * u_t * B_t[n];  y_t = Σ_n h_t[n] C_t[n] + D u_t
//   out_t  = y_t * silu(z_t)
// where dt = softplus(delta + delta_bias) is computed beforehand with ATen ops (vectorized there).
// Backward, per (b, g, slice of channels of group g): recompute h_t and a_t for the whole row into a
// per-task O(L·N) scratch (never O(Bt·D·L·N)), then a reverse scan over t:
//   dh_t = dh_{t+1} ⊙ a_{t+1} + gy_t C_t   (gy = dout ⊙ silu(z), the gradient reaching y)
// dB/dC are sums over the channels that share a group: each task accumulates its own slice
// (no atomics) and the slices are summed with one ATen reduction at the end; dA, dD likewise over Bt.
//
// Vectorization: fp32 runs on explicit 8-wide vectors (GCC vector extensions) over blocks of kLanes = 8
// states, with a branch-free exp (Cephes expf polynomial, ~1 ulp); it is compiled twice, for AVX2+FMA
// (chosen at run time) and for baseline x86-64. fp64 (the parity path) is plain scalar code with std::exp.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "selective_scan_internal.h"

#define SSMLAB_ALWAYS_INLINE inline __attribute__((always_inline))

namespace ssmlab::kernels {
namespace {

constexpr int kLanes = 8;       // states per vector block (one AVX2 fp32 register)
constexpr int64_t kMaxN = 256;  // the local state array lives on the stack

// exp(x) for fp32, branch-free (vectorizes): Cody–Waite reduction x = k ln2 + r, |r| ≤ ln2/2,
// Cephes' degree-5 polynomial for e^r, 2^k assembled in the exponent bits. Inputs are clamped to
// [-87, 88], so e^-100 returns ~1.6e-38 instead of 0 — harmless in a decay factor.
SSMLAB_ALWAYS_INLINE float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // floor(x log2e + 0.5) by truncation of a positive number (cvttps2dq vectorizes on plain SSE2)
  const int32_t ki = static_cast<int32_t>(x * 1.44269504088896341f + 128.5f) - 128;
  const float k = static_cast<float>(ki);
  float r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (ki + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}
SSMLAB_ALWAYS_INLINE double exp_approx(double x) { return std::exp(x); }  // fp64: exact path for parity

// ------------------------------------------------------------------------------------------------
// Kernels (raw pointers, all contiguous)

template <typename T>
struct FwdParams {
  const T* u;   // (Bt, D, L)
  const T* dt;  // (Bt, D, L), after bias + softplus
  const T* A;   // (D, Np), zero-padded
  const T* B;   // (Bt, GB, L, Np), transposed + zero-padded
  const T* C;   // (Bt, GC, L, Np)
  const T* Dskip;  // (D) or null
  const T* z;      // (Bt, D, L) or null
  T* out;          // (Bt, D, L)
  T* last;         // (Bt, D, N)
  int64_t Bt, D, L, N, Np, GB, GC;
};

// One (b, d) channel's inputs: rows of u, dt, z, its A row and the B/C of its groups.
template <typename T>
struct ChannelView {
  const T* __restrict__ u;
  const T* __restrict__ dt;
  const T* __restrict__ z;  // null without gating
  const T* __restrict__ A;  // (Np)
  const T* __restrict__ B;  // (L, Np)
  const T* __restrict__ C;  // (L, Np)
  T Dv;
  ChannelView(const FwdParams<T>& p, int64_t bd) {
    const int64_t b = bd / p.D, d = bd % p.D, L = p.L;
    u = p.u + bd * L;
    dt = p.dt + bd * L;
    z = p.z ? p.z + bd * L : nullptr;
    A = p.A + d * p.Np;
    B = p.B + (b * p.GB + d / (p.D / p.GB)) * L * p.Np;
    C = p.C + (b * p.GC + d / (p.D / p.GC)) * L * p.Np;
    Dv = p.Dskip ? p.Dskip[d] : T(0);
  }
};

template <typename T>
SSMLAB_ALWAYS_INLINE T silu_gate(T y, T z) {
  return y * z / (T(1) + exp_approx(-z));
}

// The forward recurrence over one channel, from h = 0; h ends as the last state. emit(t, y_t) gets y before
// the z gate. kRecord (the backward's recompute) also stores a_t into Aex and h_t into H, both (L, Np).
template <bool kRecord, typename T, typename Emit>
SSMLAB_ALWAYS_INLINE void scan_channel(const ChannelView<T>& c, int64_t L, int64_t Np, T* __restrict__ h,
                                       T* __restrict__ H, T* __restrict__ Aex, Emit emit) {
  std::fill(h, h + Np, T(0));
  for (int64_t t = 0; t < L; ++t) {
    const T dtv = c.dt[t], duv = dtv * c.u[t];
    const T* __restrict__ Bt_ = c.B + t * Np;
    const T* __restrict__ Ct_ = c.C + t * Np;
    alignas(64) T yl[kLanes] = {};
    for (int64_t nb = 0; nb < Np; nb += kLanes) {
      for (int j = 0; j < kLanes; ++j) {
        const int64_t n = nb + j;
        const T a = exp_approx(dtv * c.A[n]);
        h[n] = a * h[n] + duv * Bt_[n];
        yl[j] += h[n] * Ct_[n];
        if constexpr (kRecord) {
          Aex[t * Np + n] = a;
          H[t * Np + n] = h[n];
        }
      }
    }
    T y = c.Dv * c.u[t];
    for (int j = 0; j < kLanes; ++j) y += yl[j];
    emit(t, y);
  }
}

template <typename T>
SSMLAB_ALWAYS_INLINE void scan_fwd_channel(const FwdParams<T>& p, int64_t bd) {
  const ChannelView<T> c(p, bd);
  T* __restrict__ out = p.out + bd * p.L;
  alignas(64) T h[kMaxN];
  scan_channel<false, T>(c, p.L, p.Np, h, nullptr, nullptr,
                         [&](int64_t t, T y) { out[t] = c.z ? silu_gate(y, c.z[t]) : y; });
  std::copy(h, h + p.N, p.last + bd * p.N);
}

template <typename T>
struct BwdParams {
  FwdParams<T> f;   // the forward's inputs (out/last unused)
  const T* dout;    // (Bt, D, L)
  const T* dlast;   // (Bt, D, Np) gradient of the last state (zeros when unused)
  T* du;            // (Bt, D, L)
  T* ddt;           // (Bt, D, L) gradient w.r.t. dt (after softplus)
  T* dz;            // (Bt, D, L) or null
  T* dA_part;       // (Bt, D, Np)  summed over Bt afterwards
  T* dD_part;       // (Bt, D)      summed over Bt afterwards
  T* dB_part;       // (K, Bt, GW, L, Np) one slice per task, summed afterwards
  T* dC_part;       // (K, Bt, GW, L, Np)
  int64_t GW, K;    // work groups (lcm of GB, GC) and channel slices per group
};

// One task: batch row b, work group g, slice k of that group's channels.
template <typename T>
SSMLAB_ALWAYS_INLINE void scan_bwd_task(const BwdParams<T>& p, int64_t task, T* H, T* Aex, T* yraw) {
  const auto& f = p.f;
  const int64_t L = f.L, Np = f.Np;
  const int64_t k = task % p.K, bg = task / p.K, b = bg / p.GW, g = bg % p.GW;
  const int64_t per_group = f.D / p.GW;
  const int64_t d0 = g * per_group + k * per_group / p.K, d1 = g * per_group + (k + 1) * per_group / p.K;
  T* __restrict__ dB = p.dB_part + ((k * f.Bt + b) * p.GW + g) * L * Np;
  T* __restrict__ dC = p.dC_part + ((k * f.Bt + b) * p.GW + g) * L * Np;
  alignas(64) static const T kZeros[kMaxN] = {};
  for (int64_t d = d0; d < d1; ++d) {
    const int64_t bd = b * f.D + d;
    const ChannelView<T> c(f, bd);
    const T* __restrict__ u = c.u;
    const T* __restrict__ dt = c.dt;
    const T* __restrict__ z = c.z;
    const T* __restrict__ A = c.A;
    const T* __restrict__ Bp = c.B;
    const T* __restrict__ Cp = c.C;
    const T* __restrict__ dout = p.dout + bd * L;
    const T Dv = c.Dv;
    // 1. recompute the forward: a_t, h_t (and y_t before the gate, needed by dz)
    alignas(64) T h[kMaxN];
    scan_channel<true>(c, L, Np, h, H, Aex, [&](int64_t t, T y) { yraw[t] = y; });
    // 2. reverse scan; dh starts at the last state's gradient
    alignas(64) T dh[kMaxN];
    alignas(64) T dAacc[kMaxN];
    std::copy(p.dlast + bd * Np, p.dlast + (bd + 1) * Np, dh);
    std::fill(dAacc, dAacc + Np, T(0));
    T dDacc = 0;
    for (int64_t t = L - 1; t >= 0; --t) {
      T gy = dout[t];
      if (z) {  // out = y * z * sigmoid(z)
        const T zz = z[t], sz = T(1) / (T(1) + exp_approx(-zz));
        p.dz[bd * L + t] = gy * yraw[t] * sz * (T(1) + zz * (T(1) - sz));
        gy *= zz * sz;
      }
      dDacc += gy * u[t];
      const T dtv = dt[t], uv = u[t], duv = dtv * uv;
      const T* __restrict__ Bt_ = Bp + t * Np;
      const T* __restrict__ Ct_ = Cp + t * Np;
      const T* __restrict__ Ht = H + t * Np;
      const T* __restrict__ Hprev = t > 0 ? H + (t - 1) * Np : kZeros;
      const T* __restrict__ At = Aex + t * Np;
      T* __restrict__ dBt = dB + t * Np;
      T* __restrict__ dCt = dC + t * Np;
      alignas(64) T ddu_l[kLanes] = {};
      alignas(64) T dda_l[kLanes] = {};
      for (int64_t nb = 0; nb < Np; nb += kLanes) {
        for (int j = 0; j < kLanes; ++j) {
          const int64_t n = nb + j;
          const T dhn = dh[n] + gy * Ct_[n];      // y_t = Σ h_t C_t
          dCt[n] += gy * Ht[n];
          dBt[n] += dhn * duv;                    // h_t = a_t h_{t-1} + (dt u)_t B_t
          ddu_l[j] += dhn * Bt_[n];
          const T s = dhn * Hprev[n] * At[n];     // ∂/∂(dt A) of a_t h_{t-1}
          dAacc[n] += s * dtv;
          dda_l[j] += s * A[n];
          dh[n] = dhn * At[n];
        }
      }
      T ddu = 0, dda = 0;
      for (int j = 0; j < kLanes; ++j) {
        ddu += ddu_l[j];
        dda += dda_l[j];
      }
      p.ddt[bd * L + t] = ddu * uv + dda;
      p.du[bd * L + t] = ddu * dtv + gy * Dv;
    }
    std::copy(dAacc, dAacc + Np, p.dA_part + bd * Np);
    p.dD_part[bd] = dDacc;
  }
}


// ------------------------------------------------------------------------------------------------
// fp32 fast path: explicit 8-wide vectors (GCC vector extensions: one ymm under AVX2, two xmm on
// baseline x86-64), since auto-vectorization of the state loop proved unreliable.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

SSMLAB_ALWAYS_INLINE v8f vload(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
SSMLAB_ALWAYS_INLINE void vstore(float* p, v8f v) { std::memcpy(p, &v, sizeof(v)); }
SSMLAB_ALWAYS_INLINE float hsum(v8f v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}
// the vector twin of exp_approx(float)
SSMLAB_ALWAYS_INLINE v8f vexp(v8f x) {
  x = x < -87.0f ? v8f{} - 87.0f : x;
  x = x > 88.0f ? v8f{} + 88.0f : x;
  const v8i ki = __builtin_convertvector(x * 1.44269504088896341f + 128.5f, v8i) - 128;
  const v8f k = __builtin_convertvector(ki, v8f);
  v8f r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  v8f p = v8f{} + 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  const v8i bits = (ki + 127) << 23;
  return p * reinterpret_cast<const v8f&>(bits);
}

// The vector twin of scan_channel: h as NB = Np / 8 vectors.
template <bool kRecord, typename Emit>
SSMLAB_ALWAYS_INLINE void scan_channel_f32(const ChannelView<float>& c, int64_t L, int64_t NB, v8f* A, v8f* h,
                                           float* __restrict__ H, float* __restrict__ Aex, Emit emit) {
  const int64_t Np = NB * kLanes;
  for (int64_t nb = 0; nb < NB; ++nb) {
    A[nb] = vload(c.A + nb * kLanes);
    h[nb] = v8f{};
  }
  for (int64_t t = 0; t < L; ++t) {
    const float dtv = c.dt[t], duv = dtv * c.u[t];
    const float* Bt_ = c.B + t * Np;
    const float* Ct_ = c.C + t * Np;
    v8f yv{};
    for (int64_t nb = 0; nb < NB; ++nb) {
      const v8f a = vexp(dtv * A[nb]);
      h[nb] = a * h[nb] + duv * vload(Bt_ + nb * kLanes);
      yv += h[nb] * vload(Ct_ + nb * kLanes);
      if constexpr (kRecord) {
        vstore(Aex + t * Np + nb * kLanes, a);
        vstore(H + t * Np + nb * kLanes, h[nb]);
      }
    }
    emit(t, hsum(yv) + c.Dv * c.u[t]);
  }
}

SSMLAB_ALWAYS_INLINE void scan_fwd_channel_f32(const FwdParams<float>& p, int64_t bd) {
  const ChannelView<float> c(p, bd);
  const int64_t NB = p.Np / kLanes;
  float* out = p.out + bd * p.L;
  v8f A[kMaxN / kLanes], h[kMaxN / kLanes];
  scan_channel_f32<false>(c, p.L, NB, A, h, nullptr, nullptr,
                          [&](int64_t t, float y) { out[t] = c.z ? silu_gate(y, c.z[t]) : y; });
  alignas(64) float hl[kMaxN];
  for (int64_t nb = 0; nb < NB; ++nb) vstore(hl + nb * kLanes, h[nb]);
  std::copy(hl, hl + p.N, p.last + bd * p.N);
}

SSMLAB_ALWAYS_INLINE void scan_bwd_task_f32(const BwdParams<float>& p, int64_t task, float* H, float* Aex,
                                            float* yraw) {
  const auto& f = p.f;
  const int64_t L = f.L, Np = f.Np, NB = Np / kLanes;
  const int64_t k = task % p.K, bg = task / p.K, b = bg / p.GW, g = bg % p.GW;
  const int64_t per_group = f.D / p.GW;
  const int64_t d0 = g * per_group + k * per_group / p.K, d1 = g * per_group + (k + 1) * per_group / p.K;
  float* dB = p.dB_part + ((k * f.Bt + b) * p.GW + g) * L * Np;
  float* dC = p.dC_part + ((k * f.Bt + b) * p.GW + g) * L * Np;
  for (int64_t d = d0; d < d1; ++d) {
    const int64_t bd = b * f.D + d;
    const ChannelView<float> c(f, bd);
    const float* u = c.u;
    const float* dt = c.dt;
    const float* z = c.z;
    const float* Bp = c.B;
    const float* Cp = c.C;
    const float* dout = p.dout + bd * L;
    const float Dv = c.Dv;
    v8f A[kMaxN / kLanes], h[kMaxN / kLanes], dh[kMaxN / kLanes], dA[kMaxN / kLanes];
    // 1. recompute a_t, h_t, y_t
    scan_channel_f32<true>(c, L, NB, A, h, H, Aex, [&](int64_t t, float y) { yraw[t] = y; });
    for (int64_t nb = 0; nb < NB; ++nb) {
      dh[nb] = vload(p.dlast + bd * Np + nb * kLanes);
      dA[nb] = v8f{};
    }
    // 2. reverse scan
    float dDacc = 0.f;
    for (int64_t t = L - 1; t >= 0; --t) {
      float gy = dout[t];
      if (z) {
        const float zz = z[t], sz = 1.f / (1.f + exp_approx(-zz));
        p.dz[bd * L + t] = gy * yraw[t] * sz * (1.f + zz * (1.f - sz));
        gy *= zz * sz;
      }
      dDacc += gy * u[t];
      const float dtv = dt[t], uv = u[t], duv = dtv * uv;
      const float* Bt_ = Bp + t * Np;
      const float* Ct_ = Cp + t * Np;
      const float* Ht = H + t * Np;
      const float* At = Aex + t * Np;
      float* dBt = dB + t * Np;
      float* dCt = dC + t * Np;
      v8f ddu{}, dda{};
      for (int64_t nb = 0; nb < NB; ++nb) {
        const int64_t o = nb * kLanes;
        const v8f dhn = dh[nb] + gy * vload(Ct_ + o);
        vstore(dCt + o, vload(dCt + o) + gy * vload(Ht + o));
        vstore(dBt + o, vload(dBt + o) + dhn * duv);
        ddu += dhn * vload(Bt_ + o);
        const v8f a = vload(At + o);
        const v8f s = t > 0 ? dhn * vload(Ht - Np + o) * a : v8f{};
        dA[nb] += s * dtv;
        dda += s * A[nb];
        dh[nb] = dhn * a;
      }
      const float sddu = hsum(ddu), sdda = hsum(dda);
      p.ddt[bd * L + t] = sddu * uv + sdda;
      p.du[bd * L + t] = sddu * dtv + gy * Dv;
    }
    for (int64_t nb = 0; nb < NB; ++nb) vstore(p.dA_part + bd * Np + nb * kLanes, dA[nb]);
    p.dD_part[bd] = dDacc;
  }
}

template <typename T>
void fwd_range(const FwdParams<T>& p, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    if constexpr (std::is_same_v<T, float>)
      scan_fwd_channel_f32(p, i);
    else
      scan_fwd_channel<T>(p, i);
  }
}
template <typename T>
void bwd_range(const BwdParams<T>& p, int64_t begin, int64_t end, T* H, T* Aex, T* yraw) {
  for (int64_t i = begin; i < end; ++i) {
    if constexpr (std::is_same_v<T, float>)
      scan_bwd_task_f32(p, i, H, Aex, yraw);
    else
      scan_bwd_task<T>(p, i, H, Aex, yraw);
  }
}
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) void fwd_range_avx2(const FwdParams<float>& p, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) scan_fwd_channel_f32(p, i);
}
__attribute__((target("avx2,fma"))) void bwd_range_avx2(const BwdParams<float>& p, int64_t begin, int64_t end,
                                                         float* H, float* Aex, float* yraw) {
  for (int64_t i = begin; i < end; ++i) scan_bwd_task_f32(p, i, H, Aex, yraw);
}
bool cpu_has_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}
#endif

template <typename T>
void run_fwd(const FwdParams<T>& p) {
  at::parallel_for(0, p.Bt * p.D, 1, [&](int64_t begin, int64_t end) {
#if defined(__x86_64__) && defined(__GNUC__)
    if constexpr (std::is_same_v<T, float>) {
      if (cpu_has_avx2()) return fwd_range_avx2(p, begin, end);
    }
#endif
    fwd_range<T>(p, begin, end);
  });
}

template <typename T>
void run_bwd(const BwdParams<T>& p) {
  const int64_t tasks = p.f.Bt * p.GW * p.K;
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> H(p.f.L * p.f.Np), Aex(p.f.L * p.f.Np), yraw(p.f.L);
#if defined(__x86_64__) && defined(__GNUC__)
    if constexpr (std::is_same_v<T, float>) {
      if (cpu_has_avx2()) return bwd_range_avx2(p, begin, end, H.data(), Aex.data(), yraw.data());
    }
#endif
    bwd_range<T>(p, begin, end, H.data(), Aex.data(), yraw.data());
  });
}

// ------------------------------------------------------------------------------------------------
// LibTorch glue

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

int64_t padded(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

// (Bt, N, L) or (Bt, G, N, L) → (Bt, G, L, Np), contiguous, zero-padded states
Tensor to_rows(const Tensor& x, int64_t Np, torch::ScalarType st) {
  auto y = x.dim() == 3 ? x.unsqueeze(1) : x;
  y = y.to(st).transpose(2, 3);
  const int64_t N = y.size(3);
  if (Np > N) y = torch::constant_pad_nd(y, {0, Np - N});
  return y.contiguous();
}

Tensor dt_pre(const Tensor& delta, const Tensor& delta_bias) {
  return delta_bias.defined() ? delta + delta_bias.to(delta.scalar_type()).unsqueeze(-1) : delta;
}

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

template <typename T>
FwdParams<T> fwd_params(const Tensor& u, const Tensor& dt, const Tensor& Ap, const Tensor& Bp, const Tensor& Cp,
                        const Tensor& Dc, const Tensor& zc, int64_t N) {
  FwdParams<T> p{};
  p.u = u.data_ptr<T>();
  p.dt = dt.data_ptr<T>();
  p.A = Ap.data_ptr<T>();
  p.B = Bp.data_ptr<T>();
  p.C = Cp.data_ptr<T>();
  p.Dskip = ptr_or_null<T>(Dc);
  p.z = ptr_or_null<T>(zc);
  p.Bt = u.size(0);
  p.D = u.size(1);
  p.L = u.size(2);
  p.N = N;
  p.Np = Ap.size(1);
  p.GB = Bp.size(1);
  p.GC = Cp.size(1);
  return p;
}

class ScanFunction : public torch::autograd::Function<ScanFunction> {
 public:
  // Optional inputs travel as c10::optional: an undefined Tensor among the variables trips autograd.
  static variable_list forward(AutogradContext* ctx, Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C,
                               c10::optional<Tensor> D_opt, c10::optional<Tensor> z_opt,
                               c10::optional<Tensor> delta_bias_opt, bool delta_softplus) {
    const Tensor D = D_opt.value_or(Tensor()), z = z_opt.value_or(Tensor());
    const Tensor delta_bias = delta_bias_opt.value_or(Tensor());
    const auto st = u.scalar_type();
    const int64_t N = A.size(1), Np = padded(N);
    auto pre = dt_pre(delta, delta_bias);
    auto dt = (delta_softplus ? at::softplus(pre, 1, 20) : pre).contiguous();
    auto Ap = torch::constant_pad_nd(A.to(st), {0, Np - N}).contiguous();
    auto Bp = to_rows(B, Np, st), Cp = to_rows(C, Np, st);
    auto Dc = D.defined() ? D.to(st).contiguous() : Tensor();
    auto out = torch::empty_like(u);
    auto last = torch::empty({u.size(0), u.size(1), N}, u.options());
    AT_DISPATCH_FLOATING_TYPES(st, "selective_scan_cpu_fwd", [&] {
      auto p = fwd_params<scalar_t>(u, dt, Ap, Bp, Cp, Dc, z, N);
      p.out = out.data_ptr<scalar_t>();
      p.last = last.data_ptr<scalar_t>();
      run_fwd<scalar_t>(p);
    });
    ctx->save_for_backward({u, delta, delta_bias, dt, Ap, Bp, Cp, Dc, z});
    ctx->saved_data["N"] = N;
    ctx->saved_data["softplus"] = delta_softplus;
    ctx->saved_data["B_dim"] = B.dim();
    ctx->saved_data["C_dim"] = C.dim();
    ctx->saved_data["A_dtype"] = static_cast<int64_t>(A.scalar_type());
    ctx->saved_data["B_dtype"] = static_cast<int64_t>(B.scalar_type());
    ctx->saved_data["C_dtype"] = static_cast<int64_t>(C.scalar_type());
    ctx->saved_data["D_dtype"] = static_cast<int64_t>(D.defined() ? D.scalar_type() : st);
    ctx->saved_data["bias_dtype"] = static_cast<int64_t>(delta_bias.defined() ? delta_bias.scalar_type() : st);
    return {out, last};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto s = ctx->get_saved_variables();
    const Tensor &u = s[0], &delta = s[1], &delta_bias = s[2], &dt = s[3], &Ap = s[4], &Bp = s[5], &Cp = s[6],
                 &Dc = s[7], &z = s[8];
    const auto st = u.scalar_type();
    const int64_t N = ctx->saved_data["N"].toInt(), Np = Ap.size(1);
    const int64_t Bt = u.size(0), D = u.size(1), L = u.size(2), GB = Bp.size(1), GC = Cp.size(1);
    const int64_t GW = std::lcm(GB, GC);
    // slices per work group: enough tasks to keep every thread busy, at most one channel per task
    const int64_t want = 4 * std::max<int64_t>(1, at::get_num_threads());
    const int64_t K = std::min<int64_t>(D / GW, std::max<int64_t>(1, (want + Bt * GW - 1) / (Bt * GW)));
    auto dout = grads[0].defined() ? grads[0].to(st).contiguous() : torch::zeros_like(u);
    auto dlast = grads[1].defined() ? grads[1].to(st) : torch::zeros({Bt, D, N}, u.options());
    dlast = torch::constant_pad_nd(dlast, {0, Np - N}).contiguous();
    auto du = torch::empty_like(u), ddt = torch::empty_like(u);
    auto dz = z.defined() ? torch::empty_like(u) : Tensor();
    auto dA_part = torch::zeros({Bt, D, Np}, u.options());
    auto dD_part = torch::zeros({Bt, D}, u.options());
    auto dB_part = torch::zeros({K, Bt, GW, L, Np}, u.options());
    auto dC_part = torch::zeros({K, Bt, GW, L, Np}, u.options());
    AT_DISPATCH_FLOATING_TYPES(st, "selective_scan_cpu_bwd", [&] {
      BwdParams<scalar_t> p{};
      p.f = fwd_params<scalar_t>(u, dt, Ap, Bp, Cp, Dc, z, N);
      p.dout = dout.data_ptr<scalar_t>();
      p.dlast = dlast.data_ptr<scalar_t>();
      p.du = du.data_ptr<scalar_t>();
      p.ddt = ddt.data_ptr<scalar_t>();
      p.dz = dz.defined() ? dz.data_ptr<scalar_t>() : nullptr;
      p.dA_part = dA_part.data_ptr<scalar_t>();
      p.dD_part = dD_part.data_ptr<scalar_t>();
      p.dB_part = dB_part.data_ptr<scalar_t>();
      p.dC_part = dC_part.data_ptr<scalar_t>();
      p.GW = GW;
      p.K = K;
      run_bwd<scalar_t>(p);
    });
    auto as_dtype = [&](const char* key) {
      return static_cast<torch::ScalarType>(ctx->saved_data[key].toInt());
    };
    Tensor ddelta = ddt;
    if (ctx->saved_data["softplus"].toBool()) ddelta = ddt * torch::sigmoid(dt_pre(delta, delta_bias));
    Tensor dbias = delta_bias.defined() ? ddelta.sum(at::IntArrayRef{0, 2}).to(as_dtype("bias_dtype")) : Tensor();
    Tensor dA = dA_part.sum(0).narrow(1, 0, N).to(as_dtype("A_dtype"));
    auto fold = [&](const Tensor& part, int64_t G, int64_t dim, const char* dtype_key) {
      auto x = part.sum(0).view({Bt, G, GW / G, L, Np}).sum(2).narrow(3, 0, N).transpose(2, 3);  // (Bt, G, N, L)
      if (dim == 3) x = x.squeeze(1);
      return x.contiguous().to(as_dtype(dtype_key));
    };
    Tensor dB = fold(dB_part, GB, ctx->saved_data["B_dim"].toInt(), "B_dtype");
    Tensor dC = fold(dC_part, GC, ctx->saved_data["C_dim"].toInt(), "C_dtype");
    Tensor dD = Dc.defined() ? dD_part.sum(0).to(as_dtype("D_dtype")) : Tensor();
    return {du, ddelta, dA, dB, dC, dD, dz, dbias, Tensor()};
  }
};

}  // namespace

ScanResult selective_scan_cpu(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                              const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D,
                              const torch::Tensor& z, const torch::Tensor& delta_bias, bool delta_softplus,
                              bool return_last_state) {
  check_fused_inputs("cpu_fused", u, delta, A, B, C, D, z, delta_bias, {torch::kFloat32, torch::kFloat64});
  if (!u.device().is_cpu())
    throw std::invalid_argument("selective_scan[cpu_fused]: u is on " + u.device().str() + ", expected cpu");
  if (A.size(1) > kMaxN)
    throw std::invalid_argument("selective_scan[cpu_fused]: A has N=" + std::to_string(A.size(1)) +
                                " states, this kernel takes at most " + std::to_string(kMaxN));
  auto opt = [](const torch::Tensor& t) { return t.defined() ? c10::optional<torch::Tensor>(t) : c10::nullopt; };
  auto outs = ScanFunction::apply(u, delta, A, B, C, opt(D), opt(z), opt(delta_bias), delta_softplus);
  ScanResult r;
  r.out = outs[0];
  if (return_last_state) r.last_state = outs[1];
  return r;
}

}  // namespace ssmlab::kernels
