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
// Vectorization: one body per kernel, templated on a lane type (see "Lanes" below). fp32 runs on
// explicit 8-wide vectors (GCC vector extensions) with a branch-free exp (Cephes expf polynomial,
// ~1 ulp), compiled twice, for AVX2+FMA (chosen at run time) and for baseline x86-64. fp64 (the
// parity path) runs the same body on a scalar lane with std::exp.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "kernels/selective_scan_internal.h"

#define SSMLAB_ALWAYS_INLINE inline __attribute__((always_inline))

namespace ssmlab::kernels {
namespace {

constexpr int kLanes = 8;       // states are padded to a multiple of this: whole v8f lanes (below)
constexpr int64_t kMaxN = 256;  // the local state array lives on the stack

// ------------------------------------------------------------------------------------------------
// Lanes: the kernel bodies below are written once, on a lane type V that holds Lane<V>::kWidth
// consecutive states of element type Lane<V>::T, with one small interface (load, store, sum, exp,
// and the arithmetic operators). Two lanes are used:
//   T (float or double)  a scalar lane, one state: fp64, the parity path (exp = std::exp);
//   v8f                  8 fp32 states in one explicit vector (GCC vector extensions: one ymm under
//                        AVX2, two xmm on baseline x86-64), since auto-vectorization of the state
//                        loop proved unreliable. fp32 always runs on it.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

template <class V>
struct Lane;
template <class S>
struct ScalarLane {
  using T = S;
  using Int = int32_t;
  static constexpr int kWidth = 1;
  static SSMLAB_ALWAYS_INLINE S load(const S* p) { return *p; }
  static SSMLAB_ALWAYS_INLINE void store(S* p, S v) { *p = v; }
  static SSMLAB_ALWAYS_INLINE S sum(S v) { return v; }
  static SSMLAB_ALWAYS_INLINE S splat(S v) { return v; }
  static SSMLAB_ALWAYS_INLINE Int to_int(S v) { return static_cast<Int>(v); }  // truncates
  static SSMLAB_ALWAYS_INLINE S to_float(Int v) { return static_cast<S>(v); }
};
template <>
struct Lane<float> : ScalarLane<float> {};
template <>
struct Lane<double> : ScalarLane<double> {};
template <>
struct Lane<v8f> {
  using T = float;
  using Int = v8i;
  static constexpr int kWidth = 8;
  static SSMLAB_ALWAYS_INLINE v8f load(const float* p) {
    v8f v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static SSMLAB_ALWAYS_INLINE void store(float* p, v8f v) { std::memcpy(p, &v, sizeof(v)); }
  static SSMLAB_ALWAYS_INLINE float sum(v8f v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }
  static SSMLAB_ALWAYS_INLINE v8f splat(float v) { return v8f{} + v; }
  static SSMLAB_ALWAYS_INLINE v8i to_int(v8f v) { return __builtin_convertvector(v, v8i); }  // truncates
  static SSMLAB_ALWAYS_INLINE v8f to_float(v8i v) { return __builtin_convertvector(v, v8f); }
};
static_assert(kLanes % Lane<v8f>::kWidth == 0, "the state padding must hold whole vector lanes");
template <class V>
using ElemOf = typename Lane<V>::T;

// exp(x) for fp32 lanes, branch-free (vectorizes): Cody–Waite reduction x = k ln2 + r, |r| ≤ ln2/2,
// Cephes' degree-5 polynomial for e^r, 2^k assembled in the exponent bits (~1 ulp). Inputs are
// clamped to [-87, 88], so e^-100 returns ~1.6e-38 instead of 0 — harmless in a decay factor.
template <class V>
SSMLAB_ALWAYS_INLINE V exp_approx(V x) {
  using L = Lane<V>;
  if constexpr (std::is_same_v<V, double>) {
    return std::exp(x);  // fp64: exact path for parity
  } else {
    x = x < -87.0f ? L::splat(-87.0f) : x;
    x = x > 88.0f ? L::splat(88.0f) : x;
    // floor(x log2e + 0.5) by truncation of a positive number (cvttps2dq vectorizes on plain SSE2)
    const typename L::Int ki = L::to_int(x * 1.44269504088896341f + 128.5f) - 128;
    const V k = L::to_float(ki);
    V r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    V p = L::splat(1.9875691500E-4f);
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    const typename L::Int bits = (ki + 127) << 23;
    V scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
  }
}

// The lane each element type runs on.
template <typename T>
struct LaneOf {
  using type = T;
};
template <>
struct LaneOf<float> {
  using type = v8f;
};

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

// The forward recurrence over one channel, from h = 0, on lanes V: A (loaded) and h are Np / kWidth
// lanes; h ends as the last state. emit(t, y_t) gets y before the z gate. kRecord (the backward's
// recompute) also stores a_t into Aex and h_t into H, both (L, Np).
template <bool kRecord, class V, typename Emit>
SSMLAB_ALWAYS_INLINE void scan_channel(const ChannelView<ElemOf<V>>& c, int64_t L, int64_t Np, V* A, V* h,
                                       ElemOf<V>* __restrict__ H, ElemOf<V>* __restrict__ Aex, Emit emit) {
  using Ln = Lane<V>;
  using T = ElemOf<V>;
  constexpr int W = Ln::kWidth;
  const int64_t NB = Np / W;
  for (int64_t nb = 0; nb < NB; ++nb) {
    A[nb] = Ln::load(c.A + nb * W);
    h[nb] = V{};
  }
  for (int64_t t = 0; t < L; ++t) {
    const T dtv = c.dt[t], duv = dtv * c.u[t];
    const T* __restrict__ Bt_ = c.B + t * Np;
    const T* __restrict__ Ct_ = c.C + t * Np;
    V yv{};
    for (int64_t nb = 0; nb < NB; ++nb) {
      const V a = exp_approx(dtv * A[nb]);
      h[nb] = a * h[nb] + duv * Ln::load(Bt_ + nb * W);
      yv += h[nb] * Ln::load(Ct_ + nb * W);
      if constexpr (kRecord) {
        Ln::store(Aex + t * Np + nb * W, a);
        Ln::store(H + t * Np + nb * W, h[nb]);
      }
    }
    emit(t, Ln::sum(yv) + c.Dv * c.u[t]);
  }
}

template <class V>
SSMLAB_ALWAYS_INLINE void scan_fwd_channel(const FwdParams<ElemOf<V>>& p, int64_t bd) {
  using Ln = Lane<V>;
  using T = ElemOf<V>;
  constexpr int W = Ln::kWidth;
  const ChannelView<T> c(p, bd);
  T* __restrict__ out = p.out + bd * p.L;
  V A[kMaxN / W], h[kMaxN / W];
  scan_channel<false>(c, p.L, p.Np, A, h, nullptr, nullptr,
                      [&](int64_t t, T y) { out[t] = c.z ? silu_gate(y, c.z[t]) : y; });
  alignas(64) T hl[kMaxN];
  for (int64_t nb = 0; nb < p.Np / W; ++nb) Ln::store(hl + nb * W, h[nb]);
  std::copy(hl, hl + p.N, p.last + bd * p.N);
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

// One task: batch row b, work group g, slice k of that group's channels; on lanes V.
template <class V>
SSMLAB_ALWAYS_INLINE void scan_bwd_task(const BwdParams<ElemOf<V>>& p, int64_t task, ElemOf<V>* H, ElemOf<V>* Aex,
                                        ElemOf<V>* yraw) {
  using Ln = Lane<V>;
  using T = ElemOf<V>;
  constexpr int W = Ln::kWidth;
  const auto& f = p.f;
  const int64_t L = f.L, Np = f.Np, NB = Np / W;
  const int64_t k = task % p.K, bg = task / p.K, b = bg / p.GW, g = bg % p.GW;
  const int64_t per_group = f.D / p.GW;
  const int64_t d0 = g * per_group + k * per_group / p.K, d1 = g * per_group + (k + 1) * per_group / p.K;
  T* __restrict__ dB = p.dB_part + ((k * f.Bt + b) * p.GW + g) * L * Np;
  T* __restrict__ dC = p.dC_part + ((k * f.Bt + b) * p.GW + g) * L * Np;
  for (int64_t d = d0; d < d1; ++d) {
    const int64_t bd = b * f.D + d;
    const ChannelView<T> c(f, bd);
    const T* __restrict__ u = c.u;
    const T* __restrict__ dt = c.dt;
    const T* __restrict__ z = c.z;
    const T* __restrict__ Bp = c.B;
    const T* __restrict__ Cp = c.C;
    const T* __restrict__ dout = p.dout + bd * L;
    const T Dv = c.Dv;
    V A[kMaxN / W], h[kMaxN / W], dh[kMaxN / W], dA[kMaxN / W];
    // 1. recompute the forward: a_t, h_t (and y_t before the gate, needed by dz)
    scan_channel<true>(c, L, Np, A, h, H, Aex, [&](int64_t t, T y) { yraw[t] = y; });
    // 2. reverse scan; dh starts at the last state's gradient
    for (int64_t nb = 0; nb < NB; ++nb) {
      dh[nb] = Ln::load(p.dlast + bd * Np + nb * W);
      dA[nb] = V{};
    }
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
      const T* __restrict__ At = Aex + t * Np;
      T* __restrict__ dBt = dB + t * Np;
      T* __restrict__ dCt = dC + t * Np;
      V ddu{}, dda{};
      for (int64_t nb = 0; nb < NB; ++nb) {
        const int64_t o = nb * W;
        const V dhn = dh[nb] + gy * Ln::load(Ct_ + o);                   // y_t = Σ h_t C_t
        Ln::store(dCt + o, Ln::load(dCt + o) + gy * Ln::load(Ht + o));
        Ln::store(dBt + o, Ln::load(dBt + o) + dhn * duv);              // h_t = a_t h_{t-1} + (dt u)_t B_t
        ddu += dhn * Ln::load(Bt_ + o);
        const V a = Ln::load(At + o);
        const V s = t > 0 ? dhn * Ln::load(Ht - Np + o) * a : V{};     // ∂/∂(dt A) of a_t h_{t-1}
        dA[nb] += s * dtv;
        dda += s * A[nb];
        dh[nb] = dhn * a;
      }
      const T sddu = Ln::sum(ddu), sdda = Ln::sum(dda);
      p.ddt[bd * L + t] = sddu * uv + sdda;
      p.du[bd * L + t] = sddu * dtv + gy * Dv;
    }
    for (int64_t nb = 0; nb < NB; ++nb) Ln::store(p.dA_part + bd * Np + nb * W, dA[nb]);
    p.dD_part[bd] = dDacc;
  }
}

template <typename T>
void fwd_range(const FwdParams<T>& p, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) scan_fwd_channel<typename LaneOf<T>::type>(p, i);
}
template <typename T>
void bwd_range(const BwdParams<T>& p, int64_t begin, int64_t end, T* H, T* Aex, T* yraw) {
  for (int64_t i = begin; i < end; ++i) scan_bwd_task<typename LaneOf<T>::type>(p, i, H, Aex, yraw);
}
#if defined(__x86_64__) && defined(__GNUC__)
// The same fp32 bodies compiled for AVX2 + FMA (chosen at run time by cpu_has_avx2).
__attribute__((target("avx2,fma"))) void fwd_range_avx2(const FwdParams<float>& p, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) scan_fwd_channel<v8f>(p, i);
}
__attribute__((target("avx2,fma"))) void bwd_range_avx2(const BwdParams<float>& p, int64_t begin, int64_t end,
                                                         float* H, float* Aex, float* yraw) {
  for (int64_t i = begin; i < end; ++i) scan_bwd_task<v8f>(p, i, H, Aex, yraw);
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
    save_grad_layout(ctx, A, B, C, D, delta_bias);
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
    Tensor ddelta = ddt;
    if (ctx->saved_data["softplus"].toBool()) ddelta = ddt * torch::sigmoid(dt_pre(delta, delta_bias));
    Tensor dbias = delta_bias.defined() ? ddelta.sum(at::IntArrayRef{0, 2}) : Tensor();
    Tensor dA = dA_part.sum(0).narrow(1, 0, N);
    auto fold = [&](const Tensor& part, int64_t G) {  // (K, Bt, GW, L, Np) -> (Bt, G, N, L)
      return part.sum(0).view({Bt, G, GW / G, L, Np}).sum(2).narrow(3, 0, N).transpose(2, 3);
    };
    Tensor dB = fold(dB_part, GB), dC = fold(dC_part, GC);
    Tensor dD = Dc.defined() ? dD_part.sum(0) : Tensor();
    restore_grad_layout(ctx, dA, dB, dC, dD, dbias);
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
