// mamba.cpp — Mamba-1: the mixer (mamba.h) and the LM's initialisation; the shell is ssm_lm.cpp.
#include "models/mamba.h"

#include <cmath>
#include <stdexcept>

#include "kernels/causal_conv1d.h"
#include "kernels/selective_scan.h"
#include "kernels/selective_state_update.h"
#include "models/layout_linear.h"

namespace ssmlab::models {

namespace F = torch::nn::functional;

// ---- Mamba mixer --------------------------------------------------------------------------
MambaMixerImpl::MambaMixerImpl(const MambaOptions& o) : options(o) {
  const int64_t D_ = o.d_model(), E = o.d_inner(), N = o.d_state(), R = o.resolved_dt_rank(), K = o.d_conv();
  in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(D_, 2 * E).bias(o.bias())));
  conv1d = register_module("conv1d", torch::nn::Conv1d(torch::nn::Conv1dOptions(E, E, K)
                                                            .groups(E)
                                                            .padding(K - 1)
                                                            .bias(o.conv_bias())));
  x_proj = register_module("x_proj", torch::nn::Linear(torch::nn::LinearOptions(E, R + 2 * N).bias(false)));
  dt_proj = register_module("dt_proj", torch::nn::Linear(torch::nn::LinearOptions(R, E).bias(true)));
  // Paper initialisation: dt_proj.weight ~ U(±R^-1/2 · dt_scale); Δ bias log-uniform; S4D-real A.
  {
    torch::NoGradGuard ng;
    const double std_ = std::pow(static_cast<double>(R), -0.5) * o.dt_scale();
    dt_proj->weight.uniform_(-std_, std_);
    dt_proj->bias.copy_(dt_bias_init(E, o.dt_min(), o.dt_max(), o.dt_init_floor()));
  }
  auto A = torch::arange(1, N + 1, torch::kFloat32).repeat({E, 1});  // (E, N): 1..N per channel
  A_log = register_parameter("A_log", torch::log(A));
  D = register_parameter("D", torch::ones({E}));
  out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(E, D_).bias(o.bias())));
}

void MambaMixerImpl::new_state(LayerCache& state, int64_t batch, const torch::Device& device) const {
  const int64_t E = options.d_inner();
  auto wdtype = conv1d->weight.scalar_type();
  state.conv_state = torch::zeros({batch, E, options.d_conv()}, torch::TensorOptions().device(device).dtype(wdtype));
  state.ssm_state = torch::zeros({batch, E, options.d_state()}, torch::TensorOptions().device(device).dtype(torch::kFloat32));
}

torch::Tensor MambaMixerImpl::forward(const torch::Tensor& x, LayerCache* state, const torch::Tensor& valid) {
  const int64_t L = x.size(1), E = options.d_inner(), N = options.d_state(), R = options.resolved_dt_rank();
  // Every projection writes the layout its consumer reads (layout_linear.h): the conv and the scan take
  // contiguous (B, E, L), the residual stream is (B, L, D); no transposed copies forward or backward.
  auto in_bias = [&](int64_t from) { return in_proj->options.bias() ? in_proj->bias.narrow(0, from, E) : torch::Tensor(); };
  auto xi = layout_linear(x, Layout::BLC, in_proj->weight.narrow(0, 0, E), in_bias(0), Layout::BCL);  // (B, E, L)
  auto z = layout_linear(x, Layout::BLC, in_proj->weight.narrow(0, E, E), in_bias(E), Layout::BCL);   // (B, E, L)
  torch::Tensor keep;                                     // (B, 1, L): 0 on left-pad slots
  if (valid.defined()) {
    keep = valid.unsqueeze(1).to(xi.scalar_type());
    xi = xi * keep;                                       // the conv sees zeros before the first token
  }
  if (state) {                                            // last K conv inputs, left-padded with 0
    const int64_t K = options.d_conv();
    state->conv_state.copy_(F::pad(xi, F::PadFuncOptions({std::max<int64_t>(0, K - L), 0})).narrow(2, std::max<int64_t>(0, L - K), K));
  }
  auto u = kernels::causal_conv1d_silu(xi, conv1d->weight.squeeze(1), conv1d->options.bias() ? conv1d->bias : torch::Tensor(),
                                      options.kernel_impl());  // (B, E, L) causal conv + SiLU
  if (keep.defined()) u = u * keep.to(u.scalar_type());   // u = 0 on pads: the state stays 0 there
  auto x_dbl = layout_linear(u, Layout::BCL, x_proj->weight, torch::Tensor(), Layout::BCL);  // (B, R + 2N, L)
  auto delta = layout_linear(x_dbl.narrow(1, 0, R), Layout::BCL, dt_proj->weight, torch::Tensor(), Layout::BCL);  // (B, E, L)
  auto Bm = x_dbl.narrow(1, R, N).contiguous();           // (B, N, L)
  auto Cm = x_dbl.narrow(1, R + N, N).contiguous();       // (B, N, L)
  auto A = -torch::exp(A_log.to(torch::kFloat32));         // (E, N)
  auto res = kernels::selective_scan(u, delta, A, Bm, Cm, D.to(torch::kFloat32), z, dt_proj->bias.to(torch::kFloat32),
                                     /*delta_softplus=*/true, /*return_last_state=*/state != nullptr,
                                     options.kernel_impl());  // y (B, E, L)
  if (state) state->ssm_state.copy_(res.last_state);
  return layout_linear(res.out, Layout::BCL, out_proj->weight, out_proj->options.bias() ? out_proj->bias : torch::Tensor(),
                       Layout::BLC);                       // (B, L, D)
}

torch::Tensor MambaMixerImpl::step(const torch::Tensor& x, LayerCache& st) {
  const int64_t N = options.d_state(), R = options.resolved_dt_rank();
  auto xz = in_proj(x);                                    // (B, 2E)
  auto chunks = xz.chunk(2, /*dim=*/-1);
  auto xi = chunks[0], z = chunks[1];                      // (B, E)
  // The fused kernels have no backward: under autograd the step takes the reference twins.
  const auto impl = torch::GradMode::is_enabled() ? kernels::KernelImpl::Reference : options.kernel_impl();
  // Shift the conv window left by one and append x_t, then the conv + SiLU at the newest slot: in place on the
  // cache's fixed buffers (one fused kernel on CUDA). Under autograd (the stride-memory hybrid trains through
  // this recurrence, models/smt.h) the states are replaced instead, so that the tensors earlier steps saved
  // for backward stay unmodified (kernels/causal_conv1d.h, kernels/selective_state_update.h).
  auto u = kernels::causal_conv1d_update(st.conv_state, xi, conv1d->weight.squeeze(1),
                                         conv1d->options.bias() ? conv1d->bias : torch::Tensor(), /*silu=*/true,
                                         impl);  // (B, E) in x's dtype
  auto parts = x_proj(u).split_with_sizes({R, N, N}, /*dim=*/-1);  // (B, R), (B, N), (B, N)
  auto dt = F::linear(parts[0], dt_proj->weight);          // (B, E): Δ before its bias and softplus
  // A = -exp(A_log) (E, N), D and the Δ bias in fp32: kept between steps without autograd
  const StepConstants c = torch::GradMode::is_enabled() ? make_step_constants() : step_constants();
  // h_t = exp(Δ A) h_{t-1} + Δ B u;  y = (<h_t, C_t> + D u) · silu(z), in place on the cache's state
  // (one fused kernel on CUDA without autograd, kernels/selective_state_update.h)
  auto y = kernels::selective_state_update(st.ssm_state, u, dt, c.A, parts[1], parts[2], c.D, z, c.dt_bias,
                                           /*dt_softplus=*/true, impl);
  return out_proj(y);                                      // (B, D)
}

MambaMixerImpl::StepConstants MambaMixerImpl::make_step_constants() const {
  StepConstants c;
  c.A = -torch::exp(A_log.to(torch::kFloat32));  // (E, N)
  c.D = D.to(torch::kFloat32);                  // (E); fp32 weights: the weight itself
  c.dt_bias = dt_proj->bias.to(torch::kFloat32);
  return c;
}

const MambaMixerImpl::StepConstants& MambaMixerImpl::step_constants() {
  std::vector<std::pair<const void*, int64_t>> key = {{A_log.data_ptr(), A_log._version()},
                                                      {D.data_ptr(), D._version()},
                                                      {dt_proj->bias.data_ptr(), dt_proj->bias._version()}};
  if (key != step_constants_.key || !step_constants_.A.defined()) {
    torch::NoGradGuard no_grad;
    step_constants_ = make_step_constants();
    step_constants_.key = std::move(key);
  }
  return step_constants_;
}

// ---- LM ---------------------------------------------------------------------------------------
MambaLMImpl::MambaLMImpl(const MambaOptions& o)
    : SsmLMImpl(SsmShellOptions{o.d_model(), o.n_layer(), o.padded_vocab(), o.norm_eps(), o.tie_embeddings()},
                [&o] { return std::make_shared<MambaLayerImpl>(o); }, "Mamba"),
      options(o) {
  torch::NoGradGuard ng;
  for (const auto& m : *backbone->layers) {
    auto& mixer = *m->as<MambaLayerImpl>()->mixer;
    if (mixer.in_proj->options.bias()) mixer.in_proj->bias.zero_();
    if (mixer.out_proj->options.bias()) mixer.out_proj->bias.zero_();
    mixer.out_proj->weight.div_(std::sqrt(static_cast<double>(o.n_layer())));
  }
}

int64_t mamba_param_count(const MambaOptions& o) {
  const int64_t D_ = o.d_model(), E = o.d_inner(), N = o.d_state(), R = o.resolved_dt_rank(), K = o.d_conv();
  const int64_t b = o.bias() ? 1 : 0;
  const int64_t per_layer = D_                                   // norm
                            + 2 * E * D_ + b * 2 * E             // in_proj
                            + E * K + (o.conv_bias() ? E : 0)    // conv1d
                            + E * (R + 2 * N)                    // x_proj
                            + R * E + E                          // dt_proj
                            + E * N + E                          // A_log, D
                            + D_ * E + b * D_;                   // out_proj
  return o.padded_vocab() * D_ * (o.tie_embeddings() ? 1 : 2) + o.n_layer() * per_layer + D_;
}

}  // namespace ssmlab::models
