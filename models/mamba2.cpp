// mamba2.cpp — Mamba-2: the gated RMSNorm, the mixer (mamba2.h) and the LM's initialisation; the shell
// is ssm_lm.cpp, the SSD kernels/ssd.cpp.
#include "models/mamba2.h"

#include <cmath>
#include <stdexcept>

#include "kernels/ssd.h"

namespace ssmlab::models {

namespace F = torch::nn::functional;

namespace {
torch::Tensor heads_from_groups(const torch::Tensor& t, int64_t H) {        // (b, l, G, N) -> (b, l, H, N)
  const int64_t G = t.size(2);
  return G == H ? t : t.repeat_interleave(H / G, /*dim=*/2);
}
}  // namespace

GatedRMSNormImpl::GatedRMSNormImpl(int64_t dim, int64_t group_size_, double eps_) : group_size(group_size_), eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor GatedRMSNormImpl::forward(const torch::Tensor& y, const torch::Tensor& z) {
  auto g = y.to(torch::kFloat32) * torch::silu(z.to(torch::kFloat32));      // (..., E)
  auto shape = g.sizes().vec();
  auto gs = g.view({-1, shape.back() / group_size, group_size});            // (rows, G, E/G)
  gs = gs * torch::rsqrt(gs.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (gs.view(shape) * weight.to(torch::kFloat32)).to(y.scalar_type());
}

Mamba2MixerImpl::Mamba2MixerImpl(const Mamba2Options& o) : options(o) {
  const int64_t D_ = o.d_model(), E = o.d_inner(), H = o.nheads(), G = o.ngroups(), N = o.d_state();
  if (E % o.headdim() != 0 || H % G != 0)
    throw std::invalid_argument("Mamba2: d_inner must be divisible by headdim and nheads by ngroups");
  in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(D_, 2 * E + 2 * G * N + H).bias(o.bias())));
  conv1d = register_module("conv1d", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.conv_dim(), o.conv_dim(), o.d_conv())
                                                            .groups(o.conv_dim())
                                                            .padding(o.d_conv() - 1)
                                                            .bias(o.conv_bias())));
  dt_bias = register_parameter("dt_bias", dt_bias_init(H, o.dt_min(), o.dt_max(), o.dt_init_floor()));
  A_log = register_parameter("A_log", torch::log(torch::empty({H}).uniform_(o.A_init_min(), o.A_init_max())));
  D = register_parameter("D", torch::ones({H}));
  norm = register_module("norm", GatedRMSNorm(E, o.norm_per_group() ? E / G : E, o.norm_eps()));
  out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(E, D_).bias(o.bias())));
}

void Mamba2MixerImpl::new_state(LayerCache& state, int64_t batch, const torch::Device& device) const {
  auto topts = torch::TensorOptions().device(device);
  state.conv_state = torch::zeros({batch, options.conv_dim(), options.d_conv()}, topts.dtype(conv1d->weight.scalar_type()));
  state.ssm_state = torch::zeros({batch, options.nheads(), options.headdim(), options.d_state()}, topts.dtype(torch::kFloat32));
}

torch::Tensor Mamba2MixerImpl::forward(const torch::Tensor& u, LayerCache* state, const torch::Tensor& valid) {
  const int64_t Bt = u.size(0), L = u.size(1), E = options.d_inner(), H = options.nheads(), P = options.headdim();
  const int64_t G = options.ngroups(), N = options.d_state(), K = options.d_conv();
  auto parts = in_proj(u).split_with_sizes({E, options.conv_dim(), H}, -1);  // z (B,L,E), xBC, dt (B,L,H)
  auto z = parts[0];
  auto xBC_in = parts[1].transpose(1, 2);                                   // (B, E + 2GN, L)
  torch::Tensor keep;                                                       // (B, 1, L): 0 on left-pad slots
  if (valid.defined()) {
    keep = valid.unsqueeze(1).to(xBC_in.scalar_type());
    xBC_in = xBC_in * keep;
  }
  if (state)
    state->conv_state.copy_(F::pad(xBC_in, F::PadFuncOptions({std::max<int64_t>(0, K - L), 0}))
                                .narrow(2, std::max<int64_t>(0, L - K), K));
  auto xBC = torch::silu(conv1d(xBC_in).narrow(2, 0, L));                   // (B, E + 2GN, L)
  if (keep.defined()) xBC = xBC * keep.to(xBC.scalar_type());               // x = 0 on pads: the state stays 0
  xBC = xBC.transpose(1, 2);                                                // (B, L, E + 2GN)
  auto xbc = xBC.split_with_sizes({E, G * N, G * N}, -1);
  auto x = xbc[0].reshape({Bt, L, H, P});                                   // (B, L, H, P)
  auto Bm = xbc[1].reshape({Bt, L, G, N}), Cm = xbc[2].reshape({Bt, L, G, N});
  auto dt = F::softplus(parts[2].to(torch::kFloat32) + dt_bias.to(torch::kFloat32));  // (B, L, H)
  auto A = -torch::exp(A_log.to(torch::kFloat32));                          // (H)
  torch::Tensor final_state;
  auto y = kernels::ssd(x, dt, A, Bm, Cm, options.chunk_size(), &final_state, options.kernel_impl());  // (B, L, H, P)
  if (state) state->ssm_state.copy_(final_state);
  y = y + x.to(torch::kFloat32) * D.to(torch::kFloat32).view({H, 1});       // D skip
  y = norm(y.reshape({Bt, L, E}).to(u.scalar_type()), z);                   // gated RMSNorm
  return out_proj(y);                                                       // (B, L, D)
}

torch::Tensor Mamba2MixerImpl::step(const torch::Tensor& u, LayerCache& st) {
  const int64_t Bt = u.size(0), E = options.d_inner(), H = options.nheads(), P = options.headdim();
  const int64_t G = options.ngroups(), N = options.d_state(), K = options.d_conv();
  auto parts = in_proj(u).split_with_sizes({E, options.conv_dim(), H}, -1);  // z (B,E), xBC (B,E+2GN), dt (B,H)
  if (K > 1) st.conv_state.narrow(2, 0, K - 1).copy_(st.conv_state.narrow(2, 1, K - 1).clone());
  st.conv_state.select(2, K - 1).copy_(parts[1]);
  auto xBC = (st.conv_state * conv1d->weight.squeeze(1)).sum(-1);           // (B, E + 2GN)
  if (conv1d->options.bias()) xBC = xBC + conv1d->bias;
  auto xbc = torch::silu(xBC).to(torch::kFloat32).split_with_sizes({E, G * N, G * N}, -1);
  auto x = xbc[0].view({Bt, H, P});                                         // (B, H, P)
  auto Bh = heads_from_groups(xbc[1].view({Bt, 1, G, N}), H).squeeze(1);    // (B, H, N)
  auto Ch = heads_from_groups(xbc[2].view({Bt, 1, G, N}), H).squeeze(1);
  auto dt = F::softplus(parts[2].to(torch::kFloat32) + dt_bias.to(torch::kFloat32));  // (B, H)
  auto a = torch::exp(dt * -torch::exp(A_log.to(torch::kFloat32)));         // (B, H) scalar decay
  st.ssm_state.mul_(a.view({Bt, H, 1, 1})).add_((dt.unsqueeze(-1) * x).unsqueeze(-1) * Bh.unsqueeze(2));
  auto y = (st.ssm_state * Ch.unsqueeze(2)).sum(-1) + x * D.to(torch::kFloat32).view({H, 1});  // (B, H, P)
  return out_proj(norm(y.reshape({Bt, E}).to(u.scalar_type()), parts[0]));  // (B, D)
}

Mamba2LMImpl::Mamba2LMImpl(const Mamba2Options& o)
    : SsmLMImpl(SsmShellOptions{o.d_model(), o.n_layer(), o.padded_vocab(), o.norm_eps(), o.tie_embeddings()},
                [&o] { return std::make_shared<Mamba2LayerImpl>(o); }, "Mamba-2"),
      options(o) {
  torch::NoGradGuard ng;
  for (const auto& m : *backbone->layers)
    m->as<Mamba2LayerImpl>()->mixer->out_proj->weight.div_(std::sqrt(static_cast<double>(o.n_layer())));
}

int64_t mamba2_param_count(const Mamba2Options& o) {
  const int64_t D_ = o.d_model(), E = o.d_inner(), H = o.nheads(), G = o.ngroups(), N = o.d_state();
  const int64_t b = o.bias() ? 1 : 0, proj = 2 * E + 2 * G * N + H;
  const int64_t per_layer = D_ + D_ * proj + b * proj + o.conv_dim() * o.d_conv() + (o.conv_bias() ? o.conv_dim() : 0) +
                            3 * H + E + E * D_ + b * D_;
  return o.padded_vocab() * D_ * (o.tie_embeddings() ? 1 : 2) + o.n_layer() * per_layer + D_;
}

}  // namespace ssmlab::models
