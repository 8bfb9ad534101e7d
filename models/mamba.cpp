// mamba.cpp — Mamba-1 (mamba.h) and Mamba-2 (mamba2.h) modules.
#include "mamba.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "mamba2.h"
#include "selective_scan.h"

namespace ssmlab::models {

namespace F = torch::nn::functional;

// ---- RMSNorm ------------------------------------------------------------------------------
RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat32);
  auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);  // (..., dim)
  return (y * weight.to(torch::kFloat32)).to(x.scalar_type());
}

// ---- initialisation helpers (mamba_simple.py) -----------------------------------------------
namespace {
// Δ bias so that softplus(bias) is log-uniform in [dt_min, dt_max] (floored): the inverse
// softplus of dt is dt + log(-expm1(-dt)).
torch::Tensor init_dt_bias(int64_t n, double dt_min, double dt_max, double floor) {
  auto dt = torch::exp(torch::rand({n}, torch::kFloat64) * (std::log(dt_max) - std::log(dt_min)) + std::log(dt_min));
  dt = dt.clamp_min(floor);
  return (dt + torch::log(-torch::expm1(-dt))).to(torch::kFloat32);
}
}  // namespace

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
    dt_proj->bias.copy_(init_dt_bias(E, o.dt_min(), o.dt_max(), o.dt_init_floor()));
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
  auto xz = in_proj(x).transpose(1, 2);                   // (B, 2E, L)
  auto chunks = xz.chunk(2, /*dim=*/1);
  auto xi = chunks[0], z = chunks[1];                     // (B, E, L) each
  torch::Tensor keep;                                     // (B, 1, L): 0 on left-pad slots
  if (valid.defined()) {
    keep = valid.unsqueeze(1).to(xi.scalar_type());
    xi = xi * keep;                                       // the conv sees zeros before the first token
  }
  if (state) {                                            // last K conv inputs, left-padded with 0
    const int64_t K = options.d_conv();
    state->conv_state.copy_(F::pad(xi, F::PadFuncOptions({std::max<int64_t>(0, K - L), 0})).narrow(2, std::max<int64_t>(0, L - K), K));
  }
  auto u = kernels::causal_conv1d_silu(xi.contiguous(), conv1d->weight.squeeze(1), conv1d->options.bias() ? conv1d->bias : torch::Tensor(),
                                      options.scan_impl());  // (B, E, L) causal conv + SiLU
  if (keep.defined()) u = u * keep.to(u.scalar_type());   // u = 0 on pads: the state stays 0 there
  auto x_dbl = x_proj(u.transpose(1, 2));                  // (B, L, R + 2N)
  auto parts = x_dbl.split_with_sizes({R, N, N}, /*dim=*/-1);
  auto delta = torch::matmul(dt_proj->weight, parts[0].transpose(1, 2));  // (E, R) @ (B, R, L) -> (B, E, L)
  auto Bm = parts[1].transpose(1, 2).contiguous();         // (B, N, L)
  auto Cm = parts[2].transpose(1, 2).contiguous();         // (B, N, L)
  auto A = -torch::exp(A_log.to(torch::kFloat32));         // (E, N)
  // Contiguous (B, E, L) operands: the fused kernels require them.
  auto res = kernels::selective_scan(u.contiguous(), delta.contiguous(), A, Bm, Cm, D.to(torch::kFloat32), z.contiguous(),
                                     dt_proj->bias.to(torch::kFloat32), /*delta_softplus=*/true,
                                     /*return_last_state=*/state != nullptr, options.scan_impl());
  if (state) state->ssm_state.copy_(res.last_state);
  (void)E;
  return out_proj(res.out.transpose(1, 2));                // (B, L, D)
}

torch::Tensor MambaMixerImpl::step(const torch::Tensor& x, LayerCache& st) {
  const int64_t N = options.d_state(), R = options.resolved_dt_rank(), K = options.d_conv();
  auto xz = in_proj(x);                                    // (B, 2E)
  auto chunks = xz.chunk(2, /*dim=*/-1);
  auto xi = chunks[0], z = chunks[1];                      // (B, E)
  // Shift the conv window left by one and append x_t (in place: fixed buffers). Under autograd (the
  // stride-memory hybrid trains through this recurrence, models/smt.h) the states are replaced
  // instead, so that the tensors earlier steps saved for backward stay unmodified.
  const bool differentiable = torch::GradMode::is_enabled();
  if (differentiable) {
    st.conv_state = torch::cat({st.conv_state.narrow(2, 1, K - 1), xi.to(st.conv_state.scalar_type()).unsqueeze(2)}, 2);
  } else {
    if (K > 1) st.conv_state.narrow(2, 0, K - 1).copy_(st.conv_state.narrow(2, 1, K - 1).clone());
    st.conv_state.select(2, K - 1).copy_(xi);
  }
  auto u = (st.conv_state * conv1d->weight.squeeze(1)).sum(-1);  // (B, E)
  if (conv1d->options.bias()) u = u + conv1d->bias;
  u = torch::silu(u).to(x.scalar_type());
  auto parts = x_proj(u).split_with_sizes({R, N, N}, /*dim=*/-1);  // (B, R), (B, N), (B, N)
  auto delta = F::softplus(F::linear(parts[0], dt_proj->weight).to(torch::kFloat32) + dt_proj->bias.to(torch::kFloat32));  // (B, E)
  auto A = -torch::exp(A_log.to(torch::kFloat32));         // (E, N)
  auto dA = torch::exp(delta.unsqueeze(-1) * A);           // (B, E, N)
  auto dBu = delta.unsqueeze(-1) * parts[1].to(torch::kFloat32).unsqueeze(1) * u.to(torch::kFloat32).unsqueeze(-1);  // (B, E, N)
  if (differentiable) st.ssm_state = st.ssm_state * dA + dBu;  // h_t = exp(Δ A) h_{t-1} + Δ B u
  else st.ssm_state.mul_(dA).add_(dBu);
  auto y = torch::matmul(st.ssm_state, parts[2].to(torch::kFloat32).unsqueeze(-1)).squeeze(-1);  // (B, E) = <h_t, C_t>
  y = y + D.to(torch::kFloat32) * u.to(torch::kFloat32);
  y = (y * torch::silu(z.to(torch::kFloat32))).to(x.scalar_type());
  return out_proj(y);                                      // (B, D)
}

// ---- the SSM LM shell shared by Mamba-1 and Mamba-2 ----------------------------------------------
namespace {
// Runs the residual layers over h (B, L, D) and the final norm. With a cache: an unused one is
// filled by the parallel prefill (pad slots masked), a used one continues one token at a time.
template <class LayerImpl>
torch::Tensor ssm_layers_forward(torch::nn::ModuleList& layers, RMSNorm& norm_f, torch::Tensor h, InferenceCache* cache,
                                 const char* family) {
  const int64_t L = h.size(1);
  if (cache) cache->check_room(L, family);
  if (cache && cache->seqlen_offset > 0) {
    std::vector<torch::Tensor> outs;
    for (int64_t t = 0; t < L; ++t) {
      auto x = h.select(1, t);                                              // (B, D)
      int64_t i = 0;
      for (const auto& m : *layers) x = m->as<LayerImpl>()->step(x, cache->layers[i++]);
      outs.push_back(x);
    }
    cache->seqlen_offset += L;
    return norm_f(torch::stack(outs, 1));                                   // (B, L, D)
  }
  torch::Tensor valid = cache && cache->has_padding() ? cache->valid_mask(L) : torch::Tensor();  // (B, L)
  int64_t i = 0;
  for (const auto& m : *layers) {
    h = m->as<LayerImpl>()->forward(h, cache ? &cache->layers[i] : nullptr, valid);
    ++i;
  }
  if (cache) cache->seqlen_offset += L;
  return norm_f(h);                                                         // (B, L, D)
}

// A cache with every layer's zero conv and SSM state (the mixer allocates its own shapes).
template <class LayerImpl>
InferenceCache ssm_new_cache(torch::nn::ModuleList& layers, int64_t batch, int64_t max_seqlen, const torch::Device& device) {
  auto c = InferenceCache::allocate(batch, max_seqlen, static_cast<int64_t>(layers->size()), device);
  int64_t i = 0;
  for (const auto& m : *layers) m->as<LayerImpl>()->mixer->new_state(c.layers[i++], batch, device);
  return c;
}
}  // namespace

// ---- residual layer, backbone, LM ---------------------------------------------------------------
MambaLayerImpl::MambaLayerImpl(const MambaOptions& o) : residual_in_fp32(o.residual_in_fp32()) {
  norm = register_module("norm", RMSNorm(o.d_model(), o.norm_eps()));
  mixer = register_module("mixer", MambaMixer(o));
}

torch::Tensor MambaLayerImpl::forward(const torch::Tensor& x, LayerCache* state, const torch::Tensor& valid) {
  auto h = mixer->forward(norm(x), state, valid);
  return (residual_in_fp32 ? x.to(torch::kFloat32) + h.to(torch::kFloat32) : x + h).to(x.scalar_type());
}

torch::Tensor MambaLayerImpl::step(const torch::Tensor& x, LayerCache& state) {
  auto h = mixer->step(norm(x), state);
  return (residual_in_fp32 ? x.to(torch::kFloat32) + h.to(torch::kFloat32) : x + h).to(x.scalar_type());
}

MambaBackboneImpl::MambaBackboneImpl(const MambaOptions& o) {
  embeddings = register_module("embeddings", torch::nn::Embedding(o.padded_vocab(), o.d_model()));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.n_layer(); ++i) layers->push_back(MambaLayer(o));
  norm_f = register_module("norm_f", RMSNorm(o.d_model(), o.norm_eps()));
}

MambaLMImpl::MambaLMImpl(const MambaOptions& o) : options(o) {
  backbone = register_module("backbone", MambaBackbone(o));
  if (!o.tie_embeddings())
    lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), o.padded_vocab()).bias(false)));
  // mixer_seq_simple._init_weights: embeddings N(0, 0.02); linear biases 0 (dt_proj's kept);
  // out_proj rescaled by 1/sqrt(n_layer) (GPT-2 style prenorm-residual rescaling).
  torch::NoGradGuard ng;
  backbone->embeddings->weight.normal_(0.0, 0.02);
  for (const auto& m : *backbone->layers) {
    auto mixer = m->as<MambaLayerImpl>()->mixer;
    if (mixer->in_proj->options.bias()) mixer->in_proj->bias.zero_();
    if (mixer->out_proj->options.bias()) mixer->out_proj->bias.zero_();
    mixer->out_proj->weight.div_(std::sqrt(static_cast<double>(o.n_layer())));
  }
  if (lm_head) lm_head->weight.normal_(0.0, 0.02);
}

torch::Tensor MambaLMImpl::lm_head_weight() const { return lm_head ? lm_head->weight : backbone->embeddings->weight; }

InferenceCache MambaLMImpl::new_cache(int64_t batch, int64_t max_seqlen) {
  return ssm_new_cache<MambaLayerImpl>(backbone->layers, batch, max_seqlen, device());
}

torch::Tensor MambaLMImpl::layers_forward(torch::Tensor h, InferenceCache* cache) {
  return ssm_layers_forward<MambaLayerImpl>(backbone->layers, backbone->norm_f, std::move(h), cache, "Mamba");
}

torch::Tensor MambaLMImpl::forward_features(const torch::Tensor& x, InferenceCache* cache) { return layers_forward(x, cache); }

torch::Tensor MambaLMImpl::forward(const torch::Tensor& tokens, InferenceCache* cache) {
  auto h = layers_forward(backbone->embeddings(tokens), cache);  // (B, L, D)
  return F::linear(h, lm_head_weight());                          // (B, L, V_pad)
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

// ===========================================================================================
// Mamba-2 (mamba2.h)
// ===========================================================================================
torch::Tensor segsum_exp(const torch::Tensor& a) {
  const int64_t T = a.size(-1);
  auto opts = torch::TensorOptions().dtype(torch::kBool).device(a.device());
  std::vector<int64_t> shape(a.sizes().begin(), a.sizes().end());
  shape.push_back(T);
  auto x = a.unsqueeze(-1).expand(shape);                                   // (..., T, T): [i, j] = a_i
  auto strict = torch::tril(torch::ones({T, T}, opts), -1);                 // i > j
  auto ss = x.masked_fill(strict.logical_not(), 0).cumsum(-2);              // [i, j] = a_{j+1} + ... + a_i
  auto lower = torch::tril(torch::ones({T, T}, opts), 0);
  return torch::exp(ss.masked_fill(lower.logical_not(), -std::numeric_limits<double>::infinity()));
}

namespace {
torch::Tensor heads_from_groups(const torch::Tensor& t, int64_t H) {        // (b, l, G, N) -> (b, l, H, N)
  const int64_t G = t.size(2);
  return G == H ? t : t.repeat_interleave(H / G, /*dim=*/2);
}
}  // namespace

torch::Tensor ssd_chunked(const torch::Tensor& x_in, const torch::Tensor& dt_in, const torch::Tensor& A_in,
                          const torch::Tensor& B_in, const torch::Tensor& C_in, int64_t Q, torch::Tensor* final_state) {
  const int64_t b = x_in.size(0), L = x_in.size(1), H = x_in.size(2), P = x_in.size(3);
  const int64_t N = B_in.size(3);
  auto dt = dt_in.to(torch::kFloat32);                                      // (b, L, H)
  auto X = x_in.to(torch::kFloat32) * dt.unsqueeze(-1);                     // (b, L, H, P): Δ x
  auto Adt = dt * A_in.to(torch::kFloat32);                                 // (b, L, H): log a_t
  auto Bm = heads_from_groups(B_in.to(torch::kFloat32), H);                 // (b, L, H, N)
  auto Cm = heads_from_groups(C_in.to(torch::kFloat32), H);
  const int64_t pad = (Q - L % Q) % Q, Lp = L + pad, c = Lp / Q;
  if (pad > 0) {                                                            // a = 1, x = 0: state passes through
    X = F::pad(X, F::PadFuncOptions({0, 0, 0, 0, 0, pad}));
    Adt = F::pad(Adt, F::PadFuncOptions({0, 0, 0, pad}));
    Bm = F::pad(Bm, F::PadFuncOptions({0, 0, 0, 0, 0, pad}));
    Cm = F::pad(Cm, F::PadFuncOptions({0, 0, 0, 0, 0, pad}));
  }
  X = X.view({b, c, Q, H, P});
  Bm = Bm.view({b, c, Q, H, N});
  Cm = Cm.view({b, c, Q, H, N});
  auto Ac = Adt.view({b, c, Q, H}).permute({0, 3, 1, 2});                  // (b, H, c, Q)
  auto A_cumsum = Ac.cumsum(-1);                                            // (b, H, c, Q)
  // 1. Intra-chunk (diagonal blocks): the quadratic, attention-like form.
  auto Lmat = segsum_exp(Ac);                                               // (b, H, c, Q, Q)
  auto Y_diag = torch::einsum("bclhn,bcshn,bhcls,bcshp->bclhp", {Cm, Bm, Lmat, X});
  // 2. State at the end of each chunk (B terms, right factors of the low-rank blocks).
  auto decay_states = torch::exp(A_cumsum.narrow(-1, Q - 1, 1) - A_cumsum);  // (b, H, c, Q)
  auto states = torch::einsum("bclhn,bhcl,bclhp->bchpn", {Bm, decay_states, X});  // (b, c, H, P, N)
  // 3. Inter-chunk recurrence over chunk boundaries (A terms).
  states = torch::cat({torch::zeros({b, 1, H, P, N}, states.options()), states}, 1);  // (b, c+1, H, P, N)
  auto decay_chunk = segsum_exp(F::pad(A_cumsum.select(-1, Q - 1), F::PadFuncOptions({1, 0})));  // (b, H, c+1, c+1)
  auto new_states = torch::einsum("bhzc,bchpn->bzhpn", {decay_chunk, states});  // (b, c+1, H, P, N)
  if (final_state) *final_state = new_states.select(1, c);                  // (b, H, P, N)
  states = new_states.narrow(1, 0, c);                                      // state entering each chunk
  // 4. State -> output within each chunk (C terms, left factors).
  auto state_decay_out = torch::exp(A_cumsum);                              // (b, H, c, Q)
  auto Y_off = torch::einsum("bclhn,bchpn,bhcl->bclhp", {Cm, states, state_decay_out});
  return (Y_diag + Y_off).reshape({b, Lp, H, P}).narrow(1, 0, L);           // (b, L, H, P)
}

torch::Tensor ssd_sequential(const torch::Tensor& x_in, const torch::Tensor& dt_in, const torch::Tensor& A_in,
                             const torch::Tensor& B_in, const torch::Tensor& C_in, torch::Tensor* final_state) {
  const int64_t b = x_in.size(0), L = x_in.size(1), H = x_in.size(2), P = x_in.size(3), N = B_in.size(3);
  auto x = x_in.to(torch::kFloat32);
  auto dt = dt_in.to(torch::kFloat32);
  auto A = A_in.to(torch::kFloat32);
  auto Bm = heads_from_groups(B_in.to(torch::kFloat32), H), Cm = heads_from_groups(C_in.to(torch::kFloat32), H);
  auto h = torch::zeros({b, H, P, N}, x.options());                         // H_0 = 0
  // Per-step slices via unbind (one stack in backward; select() would build L full-size zero grads).
  const auto dt_s = dt.unbind(1), x_s = x.unbind(1), B_s = Bm.unbind(1), C_s = Cm.unbind(1);
  std::vector<torch::Tensor> ys;
  for (int64_t t = 0; t < L; ++t) {
    const auto& dt_t = dt_s[t];                                             // (b, H)
    auto a = torch::exp(dt_t * A).view({b, H, 1, 1});                       // scalar decay per head
    auto dx = (dt_t.unsqueeze(-1) * x_s[t]).unsqueeze(-1);                  // (b, H, P, 1)
    h = a * h + dx * B_s[t].unsqueeze(2);                                   // H_t = a H_{t-1} + Δ x B^T
    ys.push_back((h * C_s[t].unsqueeze(2)).sum(-1));                        // y_t = H_t C_t: (b, H, P)
  }
  if (final_state) *final_state = h;
  return torch::stack(ys, 1);                                               // (b, L, H, P)
}

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
  dt_bias = register_parameter("dt_bias", init_dt_bias(H, o.dt_min(), o.dt_max(), o.dt_init_floor()));
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
  auto y = options.use_chunked() ? ssd_chunked(x, dt, A, Bm, Cm, options.chunk_size(), &final_state)
                                 : ssd_sequential(x, dt, A, Bm, Cm, &final_state);  // (B, L, H, P)
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

Mamba2LayerImpl::Mamba2LayerImpl(const Mamba2Options& o) {
  norm = register_module("norm", RMSNorm(o.d_model(), o.norm_eps()));
  mixer = register_module("mixer", Mamba2Mixer(o));
}

torch::Tensor Mamba2LayerImpl::forward(const torch::Tensor& x, LayerCache* state, const torch::Tensor& valid) {
  return (x.to(torch::kFloat32) + mixer->forward(norm(x), state, valid).to(torch::kFloat32)).to(x.scalar_type());
}

torch::Tensor Mamba2LayerImpl::step(const torch::Tensor& x, LayerCache& state) {
  return (x.to(torch::kFloat32) + mixer->step(norm(x), state).to(torch::kFloat32)).to(x.scalar_type());
}

Mamba2BackboneImpl::Mamba2BackboneImpl(const Mamba2Options& o) {
  embeddings = register_module("embeddings", torch::nn::Embedding(o.padded_vocab(), o.d_model()));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.n_layer(); ++i) layers->push_back(Mamba2Layer(o));
  norm_f = register_module("norm_f", RMSNorm(o.d_model(), o.norm_eps()));
}

Mamba2LMImpl::Mamba2LMImpl(const Mamba2Options& o) : options(o) {
  backbone = register_module("backbone", Mamba2Backbone(o));
  if (!o.tie_embeddings())
    lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), o.padded_vocab()).bias(false)));
  torch::NoGradGuard ng;
  backbone->embeddings->weight.normal_(0.0, 0.02);
  for (const auto& m : *backbone->layers)
    m->as<Mamba2LayerImpl>()->mixer->out_proj->weight.div_(std::sqrt(static_cast<double>(o.n_layer())));
  if (lm_head) lm_head->weight.normal_(0.0, 0.02);
}

torch::Tensor Mamba2LMImpl::lm_head_weight() const { return lm_head ? lm_head->weight : backbone->embeddings->weight; }

InferenceCache Mamba2LMImpl::new_cache(int64_t batch, int64_t max_seqlen) {
  return ssm_new_cache<Mamba2LayerImpl>(backbone->layers, batch, max_seqlen, device());
}

torch::Tensor Mamba2LMImpl::layers_forward(torch::Tensor h, InferenceCache* cache) {
  return ssm_layers_forward<Mamba2LayerImpl>(backbone->layers, backbone->norm_f, std::move(h), cache, "Mamba-2");
}

torch::Tensor Mamba2LMImpl::forward_features(const torch::Tensor& x, InferenceCache* cache) { return layers_forward(x, cache); }

torch::Tensor Mamba2LMImpl::forward(const torch::Tensor& tokens, InferenceCache* cache) {
  return F::linear(layers_forward(backbone->embeddings(tokens), cache), lm_head_weight());  // (B, L, V_pad)
}

int64_t mamba2_param_count(const Mamba2Options& o) {
  const int64_t D_ = o.d_model(), E = o.d_inner(), H = o.nheads(), G = o.ngroups(), N = o.d_state();
  const int64_t b = o.bias() ? 1 : 0, proj = 2 * E + 2 * G * N + H;
  const int64_t per_layer = D_ + D_ * proj + b * proj + o.conv_dim() * o.d_conv() + (o.conv_bias() ? o.conv_dim() : 0) +
                            3 * H + E + E * D_ + b * D_;
  return o.padded_vocab() * D_ * (o.tie_embeddings() ? 1 : 2) + o.n_layer() * per_layer + D_;
}

}  // namespace ssmlab::models
