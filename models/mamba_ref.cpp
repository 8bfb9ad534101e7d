// mamba_ref.cpp — the reference twin of MambaLM's forward (mamba.h): transformers'
// models/mamba/modeling_mamba.py MambaMixer.slow_forward, transcribed op by op, fp32, no kernels/,
// no fusion, an explicit loop over the sequence. Slow on purpose: it is the parity oracle that a
// change in mamba.cpp or kernels/ is tested against.
#include "models/mamba.h"

namespace ssmlab::models {

namespace F = torch::nn::functional;
using torch::Tensor;

namespace {
Tensor rms_norm_ref(const Tensor& x, const Tensor& w, double eps) {  // (..., D)
  Tensor var = x.pow(2).mean(-1, /*keepdim=*/true);
  return w * (x * torch::rsqrt(var + eps));
}

// x (B, L, D) -> (B, L, D)
Tensor mixer_ref(MambaMixerImpl& M, const Tensor& x) {
  const auto& o = M.options;
  const int64_t L = x.size(1), E = o.d_inner(), N = o.d_state(), R = o.resolved_dt_rank(), K = o.d_conv();
  Tensor xz = F::linear(x, M.in_proj->weight, M.in_proj->options.bias() ? M.in_proj->bias : Tensor());  // (B, L, 2E)
  Tensor xs = xz.narrow(-1, 0, E).transpose(1, 2);                     // (B, E, L)
  Tensor z = xz.narrow(-1, E, E);                                      // (B, L, E)
  Tensor xp = F::pad(xs, F::PadFuncOptions({K - 1, 0}));               // (B, E, K-1+L): causal zero padding
  Tensor conv = F::conv1d(xp, M.conv1d->weight, F::Conv1dFuncOptions().groups(E).bias(
                                                    M.conv1d->options.bias() ? M.conv1d->bias : Tensor()));  // (B, E, L)
  Tensor u = torch::silu(conv).transpose(1, 2);                        // (B, L, E)
  Tensor p = F::linear(u, M.x_proj->weight);                           // (B, L, R+2N)
  Tensor dt = F::softplus(F::linear(p.narrow(-1, 0, R), M.dt_proj->weight, M.dt_proj->bias));  // (B, L, E)
  Tensor Bm = p.narrow(-1, R, N), Cm = p.narrow(-1, R + N, N);         // (B, L, N)
  Tensor A = -torch::exp(M.A_log);                                     // (E, N)
  Tensor dA = torch::exp(dt.unsqueeze(-1) * A);                        // (B, L, E, N)
  Tensor dBu = dt.unsqueeze(-1) * Bm.unsqueeze(2) * u.unsqueeze(-1);   // (B, L, E, N)
  Tensor h = torch::zeros({x.size(0), E, N}, x.options());
  std::vector<Tensor> ys;
  for (int64_t t = 0; t < L; ++t) {
    h = dA.select(1, t) * h + dBu.select(1, t);                        // h_t = exp(Δ A) h_{t-1} + Δ B u
    ys.push_back(torch::matmul(h, Cm.select(1, t).unsqueeze(-1)).squeeze(-1));  // y_t = C_t h_t: (B, E)
  }
  Tensor y = torch::stack(ys, 1) + u * M.D;                            // (B, L, E)
  y = y * torch::silu(z);
  return F::linear(y, M.out_proj->weight, M.out_proj->options.bias() ? M.out_proj->bias : Tensor());
}
}  // namespace

Tensor mamba_lm_forward_ref(MambaLMImpl& model, const Tensor& tokens) {
  torch::NoGradGuard ng;
  auto& bb = *model.backbone;
  Tensor h = F::embedding(tokens, bb.embeddings->weight.to(torch::kFloat32));  // (B, L, D)
  for (const auto& m : *bb.layers) {
    auto& layer = *m->as<MambaLayerImpl>();
    h = h + mixer_ref(*layer.mixer, rms_norm_ref(h, layer.norm->weight, layer.norm->eps));
  }
  h = rms_norm_ref(h, bb.norm_f->weight, bb.norm_f->eps);
  return F::linear(h, model.lm_head_weight());                         // (B, L, V_pad)
}

}  // namespace ssmlab::models
