// selective_scan_cuda.cpp — LibTorch binding of the CUDA selective scan (cuda/selective_scan_cuda.cu),
// built only with SSMLAB_WITH_CUDA. Checks inputs, fills ScanParams, wraps fwd/bwd in an autograd::Function.
// Also exposes the causal conv1d + SiLU kernels (cuda/conv1d_cuda.cu) as causal_conv1d_silu_cuda.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <sstream>
#include <stdexcept>

#include "kernels/cuda/selective_scan_cuda.h"
#include "kernels/selective_scan_internal.h"

namespace ssmlab::kernels {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
namespace kc = ssmlab::kernels::cuda;

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("selective_scan[cuda]: ") + what + ": " + cudaGetErrorString(e));
}

Tensor as_groups(const Tensor& x) { return x.dim() == 3 ? x.unsqueeze(1) : x; }  // (Bt, G, N, L)

class CudaScanFunction : public torch::autograd::Function<CudaScanFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C,
                               c10::optional<Tensor> D_opt, c10::optional<Tensor> z_opt,
                               c10::optional<Tensor> bias_opt, bool delta_softplus, bool need_states) {
    const c10::cuda::CUDAGuard guard(u.device());
    const Tensor z = z_opt.value_or(Tensor());
    const Tensor Af = A.to(torch::kFloat32).contiguous();
    const Tensor Df = D_opt ? D_opt->to(torch::kFloat32).contiguous() : Tensor();
    const Tensor bf = bias_opt ? bias_opt->to(torch::kFloat32).contiguous() : Tensor();
    const Tensor Bg = as_groups(B.to(u.scalar_type())).contiguous(), Cg = as_groups(C.to(u.scalar_type())).contiguous();
    const int64_t Bt = u.size(0), Dd = u.size(1), L = u.size(2), N = A.size(1);
    const int64_t nchunks = (L + kc::kScanChunk - 1) / kc::kScanChunk;
    auto f32 = u.options().dtype(torch::kFloat32);
    Tensor out = torch::empty_like(u);
    Tensor last = torch::empty({Bt, Dd, N}, f32);
    Tensor states = need_states ? torch::empty({Bt, Dd, nchunks, N}, f32) : Tensor();
    kc::ScanParams p;
    p.batch = int(Bt), p.dim = int(Dd), p.seqlen = int(L), p.dstate = int(N);
    p.groups_B = int(Bg.size(1)), p.groups_C = int(Cg.size(1));
    p.bf16 = u.scalar_type() == torch::kBFloat16;
    p.delta_softplus = delta_softplus;
    p.u = u.data_ptr(), p.delta = delta.data_ptr(), p.z = z.defined() ? z.data_ptr() : nullptr;
    p.B = Bg.data_ptr(), p.C = Cg.data_ptr(), p.A = Af.data_ptr<float>();
    p.D_skip = Df.defined() ? Df.data_ptr<float>() : nullptr;
    p.delta_bias = bf.defined() ? bf.data_ptr<float>() : nullptr;
    p.out = out.data_ptr(), p.last_state = last.data_ptr<float>();
    p.chunk_states = states.defined() ? states.data_ptr<float>() : nullptr;
    Tensor y;  // N > kScanMaxN: the pre-gate y, summed over the state slices in fp32
    if (N <= kc::kScanMaxN) {
      check_cuda(kc::scan_fwd_launch(p, c10::cuda::getCurrentCUDAStream()), "forward launch");
    } else {
      y = torch::empty({Bt, Dd, L}, f32);  // written by the first slice
      p.z = nullptr, p.out = nullptr, p.y_partial = y.data_ptr<float>();
      for (int64_t n0 = 0; n0 < N; n0 += kc::kScanMaxN) {
        p.n0 = int(n0);
        p.D_skip = n0 == 0 && Df.defined() ? Df.data_ptr<float>() : nullptr;  // D·u once
        check_cuda(kc::scan_fwd_launch(p, c10::cuda::getCurrentCUDAStream()), "forward launch (state slice)");
      }
      out.copy_(z.defined() ? y * torch::silu(z.to(torch::kFloat32)) : y);
      if (!z.defined()) y = Tensor();  // the backward needs y only for dz
    }
    ctx->save_for_backward({u, delta, Af, Bg, Cg, Df, z, bf, states, y});
    ctx->saved_data["softplus"] = delta_softplus;
    save_grad_layout(ctx, A, B, C, D_opt.value_or(Tensor()), bias_opt.value_or(Tensor()));
    return {out, last};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto s = ctx->get_saved_variables();
    const Tensor &u = s[0], &delta = s[1], &Af = s[2], &Bg = s[3], &Cg = s[4], &Df = s[5], &z = s[6], &bf = s[7],
                 &states = s[8], &y = s[9];
    if (!states.defined())
      throw std::runtime_error("selective_scan[cuda]: backward without saved chunk states (inputs did not require grad)");
    const c10::cuda::CUDAGuard guard(u.device());
    const int64_t Bt = u.size(0), Dd = u.size(1), L = u.size(2), N = Af.size(1);
    auto f32 = u.options().dtype(torch::kFloat32);
    Tensor dout = grads[0].defined() ? grads[0].to(u.scalar_type()).contiguous() : torch::zeros_like(u);
    Tensor dlast = grads[1].defined() ? grads[1].to(torch::kFloat32).contiguous() : Tensor();
    Tensor du = torch::empty_like(u), ddelta = torch::empty_like(u);
    Tensor dz = z.defined() ? torch::empty_like(u) : Tensor();
    Tensor dA = torch::zeros({Dd, N}, f32);
    Tensor dB = torch::zeros(Bg.sizes(), f32), dC = torch::zeros(Cg.sizes(), f32);
    Tensor dD = Df.defined() ? torch::zeros({Dd}, f32) : Tensor();
    Tensor dbias = bf.defined() ? torch::zeros({Dd}, f32) : Tensor();
    kc::ScanParams p;
    p.batch = int(Bt), p.dim = int(Dd), p.seqlen = int(L), p.dstate = int(N);
    p.groups_B = int(Bg.size(1)), p.groups_C = int(Cg.size(1));
    p.bf16 = u.scalar_type() == torch::kBFloat16;
    p.delta_softplus = ctx->saved_data["softplus"].toBool();
    p.u = u.data_ptr(), p.delta = delta.data_ptr(), p.z = z.defined() ? z.data_ptr() : nullptr;
    p.B = Bg.data_ptr(), p.C = Cg.data_ptr(), p.A = Af.data_ptr<float>();
    p.D_skip = Df.defined() ? Df.data_ptr<float>() : nullptr;
    p.delta_bias = bf.defined() ? bf.data_ptr<float>() : nullptr;
    p.chunk_states = states.data_ptr<float>();
    p.dout = dout.data_ptr(), p.dlast = dlast.defined() ? dlast.data_ptr<float>() : nullptr;
    p.du = du.data_ptr(), p.ddelta = ddelta.data_ptr(), p.dz = dz.defined() ? dz.data_ptr() : nullptr;
    p.dA = dA.data_ptr<float>(), p.dB = dB.data_ptr<float>(), p.dC = dC.data_ptr<float>();
    p.dD = dD.defined() ? dD.data_ptr<float>() : nullptr;
    p.ddelta_bias = dbias.defined() ? dbias.data_ptr<float>() : nullptr;
    if (N <= kc::kScanMaxN) {
      check_cuda(kc::scan_bwd_launch(p, c10::cuda::getCurrentCUDAStream()), "backward launch");
    } else {
      // One launch per slice of kScanMaxN states, on one stream: the z gate's backward here (g = dout ·
      // silu(z) reaches y, dz from the saved pre-gate y), du and ddelta summed over the slices in fp32,
      // dD from the first slice only; dA/dB/dC/dbias are summed by the kernel's atomics as always.
      Tensor g = dout;
      if (z.defined()) {
        const Tensor zf = z.to(torch::kFloat32), sz = torch::sigmoid(zf), df = dout.to(torch::kFloat32);
        g = (df * zf * sz).to(u.scalar_type()).contiguous();
        dz.copy_(df * y * sz * (1 + zf * (1 - sz)));
      }
      Tensor du32 = torch::empty({Bt, Dd, L}, f32), dd32 = torch::empty({Bt, Dd, L}, f32);  // slice 0 writes
      p.z = nullptr, p.dz = nullptr, p.dout = g.data_ptr();
      p.du = du32.data_ptr(), p.ddelta = dd32.data_ptr(), p.accumulate_f32 = true;
      for (int64_t n0 = 0; n0 < N; n0 += kc::kScanMaxN) {
        p.n0 = int(n0);
        p.D_skip = n0 == 0 && Df.defined() ? Df.data_ptr<float>() : nullptr;
        p.dD = n0 == 0 && dD.defined() ? dD.data_ptr<float>() : nullptr;
        check_cuda(kc::scan_bwd_launch(p, c10::cuda::getCurrentCUDAStream()), "backward launch (state slice)");
      }
      du.copy_(du32);
      ddelta.copy_(dd32);
    }
    restore_grad_layout(ctx, dA, dB, dC, dD, dbias);
    return {du, ddelta, dA, dB, dC, dD, dz, dbias, Tensor(), Tensor()};
  }
};

}  // namespace

bool cuda_scan_built() { return true; }

namespace {
int64_t groups_of(const torch::Tensor& x) { return x.dim() == 4 ? x.size(1) : 1; }
bool width_fits_kernel(int64_t Dd, int64_t G) { return G > 0 && Dd % G == 0 && (Dd / G) % cuda::kScanChannels == 0; }
}  // namespace

// The kernel takes 32 channels per warp: D / G a multiple of 32. Any other width runs the kernel on channels
// padded to that multiple (per group, when B and C have the same number of groups): the padded channels have
// u = delta = z = 0, A = D = delta_bias = 0, so their state stays 0, they add exactly 0 to dB and dC (both are
// sums over channels of terms that carry u or the state), and their outputs and gradients are cut away
// (autograd of the pad and the slice). Exact; the cost is one copy of u, delta and z.
bool cuda_scan_supports(const torch::Tensor& u, const torch::Tensor& A, const torch::Tensor& B,
                        const torch::Tensor& C) {
  if (!u.defined() || !A.defined() || !B.defined() || !C.defined() || u.dim() != 3 || A.dim() != 2) return false;
  const int64_t Dd = u.size(1), GB = groups_of(B), GC = groups_of(C);
  if (A.size(1) < 1 || A.size(1) > kCudaScanMaxStates) return false;
  if (width_fits_kernel(Dd, GB) && width_fits_kernel(Dd, GC)) return true;
  return GB == GC && GB > 0 && Dd % GB == 0;  // padded per group
}

namespace {
// sizes with axis `dim` (G groups of `per` channels) split into (G, per).
std::vector<int64_t> grouped(std::vector<int64_t> sizes, int64_t dim, int64_t G) {
  const int64_t per = sizes[dim] / G;
  sizes[dim] = per;
  sizes.insert(sizes.begin() + dim, G);
  return sizes;
}
// (…, D, …) along `dim` → G groups of D/G channels, each padded with zeros to `per` channels.
torch::Tensor pad_groups(const torch::Tensor& t, int64_t dim, int64_t G, int64_t per) {
  if (!t.defined()) return t;
  auto sizes = t.sizes().vec();
  std::vector<int64_t> pad(2 * (sizes.size() - dim - 1), 0);  // last dim first: zeros after each group's channels
  pad.push_back(0);
  pad.push_back(per - sizes[dim] / G);
  auto out = torch::constant_pad_nd(t.reshape(grouped(sizes, dim, G)), pad, 0);
  sizes[dim] = G * per;
  return out.reshape(sizes).contiguous();
}
// The inverse: keep the first D/G channels of each padded group.
torch::Tensor unpad_groups(const torch::Tensor& t, int64_t dim, int64_t G, int64_t Dd) {
  if (!t.defined()) return t;
  auto sizes = t.sizes().vec();
  auto g = grouped(sizes, dim, G);
  sizes[dim] = Dd;
  return t.reshape(g).narrow(dim + 1, 0, Dd / G).reshape(sizes);
}
}  // namespace

ScanResult selective_scan_cuda(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                               const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D,
                               const torch::Tensor& z, const torch::Tensor& delta_bias, bool delta_softplus,
                               bool return_last_state) {
  check_fused_inputs("cuda", u, delta, A, B, C, D, z, delta_bias, {torch::kFloat32, torch::kBFloat16});
  if (!u.is_cuda()) throw std::invalid_argument("selective_scan[cuda]: u is on " + u.device().str() + ", expected cuda");
  if (!cuda_scan_supports(u, A, B, C)) {
    std::ostringstream os;
    os << "selective_scan[cuda]: needs N <= " << kCudaScanMaxStates << " (A is " << A.sizes() << ") and, when D / G is not a "
       << "multiple of " << cuda::kScanChannels << ", the same number of groups G in B and C (u is " << u.sizes() << ", B "
       << B.sizes() << ", C " << C.sizes() << ")";
    throw std::invalid_argument(os.str());
  }
  const int64_t Dd = u.size(1), G = groups_of(B);
  if (!(width_fits_kernel(Dd, G) && width_fits_kernel(Dd, groups_of(C)))) {
    const int64_t per = (Dd / G + cuda::kScanChannels - 1) / cuda::kScanChannels * cuda::kScanChannels;
    auto r = selective_scan_cuda(pad_groups(u, 1, G, per), pad_groups(delta, 1, G, per), pad_groups(A, 0, G, per), B, C,
                                 pad_groups(D, 0, G, per), pad_groups(z, 1, G, per), pad_groups(delta_bias, 0, G, per),
                                 delta_softplus, return_last_state);
    r.out = unpad_groups(r.out, 1, G, Dd);                                               // (Bt, D, L)
    if (r.last_state.defined()) r.last_state = unpad_groups(r.last_state, 1, G, Dd);     // (Bt, D, N)
    return r;
  }
  if (u.numel() >= (int64_t(1) << 31)) throw std::invalid_argument("selective_scan[cuda]: u has >= 2^31 elements");
  const bool need_states = any_requires_grad({u, delta, A, B, C, D, z, delta_bias});
  auto opt = [](const torch::Tensor& t) { return t.defined() ? c10::optional<torch::Tensor>(t) : c10::nullopt; };
  auto outs = CudaScanFunction::apply(u, delta, A, B, C, opt(D), opt(z), opt(delta_bias), delta_softplus, need_states);
  ScanResult r;
  r.out = outs[0];
  if (return_last_state) r.last_state = outs[1];
  return r;
}

// One decode step of the conv (causal_conv1d_update): the state in place, one launch.
torch::Tensor causal_conv1d_update_cuda(torch::Tensor& conv_state, const torch::Tensor& x, const torch::Tensor& weight,
                                        const torch::Tensor& bias, bool silu) {
  std::string why;
  if (!conv_update_cuda_supports(conv_state, x, weight, bias, &why))
    throw std::invalid_argument("causal_conv1d_update[cuda]: " + why);
  const auto dt = conv_state.scalar_type();
  if (any_requires_grad({conv_state, x, weight, bias}))
    throw std::invalid_argument("causal_conv1d_update[cuda]: no backward; use the reference under autograd");
  const c10::cuda::CUDAGuard guard(conv_state.device());
  Tensor w = weight.to(torch::kFloat32).contiguous();
  Tensor b = bias.defined() ? bias.to(torch::kFloat32).contiguous() : Tensor();
  Tensor out = torch::empty({x.size(0), x.size(1)}, x.options().memory_format(torch::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;  // an empty batch: nothing to launch
  kc::ConvUpdateParams p;
  p.batch = int(conv_state.size(0)), p.dim = int(conv_state.size(1)), p.width = int(conv_state.size(2));
  p.x_row_stride = x.stride(0), p.bf16 = dt == torch::kBFloat16, p.silu = silu;
  p.conv_state = conv_state.data_ptr(), p.x = x.data_ptr(), p.weight = w.data_ptr<float>();
  p.bias = b.defined() ? b.data_ptr<float>() : nullptr, p.out = out.data_ptr();
  check_cuda(kc::conv1d_update_launch(p, c10::cuda::getCurrentCUDAStream()), "conv1d update launch");
  return out;
}

// Causal depthwise conv1d + SiLU on CUDA: x (Bt, D, L) fp32/bf16, weight (D, W) W ≤ 4, bias (D) or undefined.
namespace {
class CudaConvFunction : public torch::autograd::Function<CudaConvFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, Tensor x, Tensor weight, c10::optional<Tensor> bias_opt, bool silu) {
    const c10::cuda::CUDAGuard guard(x.device());
    Tensor w = weight.to(torch::kFloat32).contiguous();
    Tensor b = bias_opt ? bias_opt->to(torch::kFloat32).contiguous() : Tensor();
    Tensor out = torch::empty_like(x);
    kc::ConvParams p;
    p.batch = int(x.size(0)), p.dim = int(x.size(1)), p.seqlen = int(x.size(2)), p.width = int(w.size(1));
    p.bf16 = x.scalar_type() == torch::kBFloat16, p.silu = silu;
    p.x = x.data_ptr(), p.weight = w.data_ptr<float>(), p.bias = b.defined() ? b.data_ptr<float>() : nullptr;
    p.out = out.data_ptr();
    check_cuda(kc::conv1d_fwd_launch(p, c10::cuda::getCurrentCUDAStream()), "conv1d forward launch");
    ctx->save_for_backward({x, w, b});
    ctx->saved_data["silu"] = silu;
    ctx->saved_data["w_dtype"] = int64_t(weight.scalar_type());
    ctx->saved_data["b_dtype"] = int64_t(bias_opt ? bias_opt->scalar_type() : torch::kFloat32);
    return {out};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto s = ctx->get_saved_variables();
    const Tensor &x = s[0], &w = s[1], &b = s[2];
    const c10::cuda::CUDAGuard guard(x.device());
    Tensor dout = grads[0].to(x.scalar_type()).contiguous();
    Tensor dx = torch::empty_like(x);
    Tensor dw = torch::zeros_like(w);
    Tensor db = b.defined() ? torch::zeros_like(b) : Tensor();
    kc::ConvParams p;
    p.batch = int(x.size(0)), p.dim = int(x.size(1)), p.seqlen = int(x.size(2)), p.width = int(w.size(1));
    p.bf16 = x.scalar_type() == torch::kBFloat16, p.silu = ctx->saved_data["silu"].toBool();
    p.x = x.data_ptr(), p.weight = w.data_ptr<float>(), p.bias = b.defined() ? b.data_ptr<float>() : nullptr;
    p.dout = dout.data_ptr(), p.dx = dx.data_ptr(), p.dweight = dw.data_ptr<float>();
    p.dbias = db.defined() ? db.data_ptr<float>() : nullptr;
    check_cuda(kc::conv1d_bwd_launch(p, c10::cuda::getCurrentCUDAStream()), "conv1d backward launch");
    auto dtype = [&](const char* k) { return static_cast<torch::ScalarType>(ctx->saved_data[k].toInt()); };
    return {dx, dw.to(dtype("w_dtype")), db.defined() ? db.to(dtype("b_dtype")) : Tensor(), Tensor()};
  }
};
}  // namespace

torch::Tensor causal_conv1d_silu_cuda(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                      bool silu) {
  auto bad = [](const std::string& m) { throw std::invalid_argument("causal_conv1d[cuda]: " + m); };
  if (!x.defined() || x.dim() != 3 || !x.is_cuda()) bad("x must be a CUDA tensor of shape (B, D, L)");
  if (!x.is_contiguous()) bad("x must be contiguous");
  if (x.scalar_type() != torch::kFloat32 && x.scalar_type() != torch::kBFloat16) bad("x must be fp32 or bf16");
  if (!weight.defined() || weight.dim() != 2 || weight.size(0) != x.size(1) || weight.size(1) < 1 || weight.size(1) > 4)
    bad("weight must have shape (D, W) with W <= 4");
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != x.size(1))) bad("bias must have shape (D)");
  auto b = bias.defined() ? c10::optional<torch::Tensor>(bias) : c10::nullopt;
  return CudaConvFunction::apply(x, weight, b, silu)[0];
}

}  // namespace ssmlab::kernels
