// models.cpp — mamba_diag_exp, linear_rnn and the regression training loop.
#include "time_series/models.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numeric>
#include <random>

#include <Eigen/Eigenvalues>

#include "ssmlab/timer.h"

namespace ssmlab::time_series {

std::vector<double> initial_rates(int N) {
  const double hi = 1.0, lo = 0.02;
  std::vector<double> r(N);
  if (N == 1) return {std::sqrt(hi * lo)};
  for (int n = 0; n < N; ++n) r[n] = hi * std::pow(lo / hi, static_cast<double>(n) / (N - 1));
  return r;
}

namespace {
torch::Tensor from_vector(const std::vector<double>& v) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kFloat64));
}
std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}
}  // namespace

// ---- shared kernel helper --------------------------------------------------------------
torch::Tensor causal_conv(const torch::Tensor& x, const torch::Tensor& K) {
  const int64_t T = x.size(1);
  auto ar = torch::arange(T, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
  auto lag = ar.unsqueeze(1) - ar.unsqueeze(0);              // (T, T): t - s
  auto M = K.index({lag.clamp_min(0)}) * (lag >= 0).to(K.dtype());  // (T, T) lower-triangular Toeplitz
  return x.matmul(M.t());                                    // (B, T)
}

// ---- mamba_diag_exp ----------------------------------------------------------------------
MambaDiagExpImpl::MambaDiagExpImpl(DiagExpOptions o) : o_(std::move(o)) {
  TORCH_CHECK(o_.N >= 1, "mamba_diag_exp: N must be >= 1");
  TORCH_CHECK(o_.form == "kernel" || o_.form == "recurrent", "mamba_diag_exp: form must be kernel|recurrent");
  std::vector<double> th;
  for (double r : initial_rates(o_.N)) th.push_back(std::log(r));
  theta = register_parameter("theta", from_vector(th));                           // (N)
  B = register_parameter("B", torch::ones({o_.N}, torch::kFloat64));              // (N)
  C = register_parameter("C", torch::randn({o_.N}, torch::kFloat64) / std::sqrt(double(o_.N)));  // (N)
  if (o_.selective) {
    dt_w = register_parameter("dt_w", torch::zeros({1}, torch::kFloat64));
    // softplus(b) = 1 at initialisation, so the selective block starts from the LTI one
    dt_b = register_parameter("dt_b", torch::full({1}, std::log(std::exp(1.0) - 1.0), torch::kFloat64));
  }
}

torch::Tensor MambaDiagExpImpl::delta(const torch::Tensor& x) {
  if (!o_.selective) return torch::ones_like(x);
  return torch::nn::functional::softplus(x * dt_w + dt_b);  // (B, T)
}

torch::Tensor MambaDiagExpImpl::forward(const torch::Tensor& x) {
  return o_.form == "recurrent" ? forward_recurrent(x) : forward_kernel(x);
}

torch::Tensor MambaDiagExpImpl::forward_recurrent(const torch::Tensor& x) {
  const int64_t Bsz = x.size(0), T = x.size(1);
  auto dt = delta(x).unsqueeze(-1);                 // (B, T, 1)
  auto a = torch::exp(-dt * torch::exp(theta));     // (B, T, N)  a_{n,t} = exp(-Δ_t exp θ_n)
  auto bbar = dt * B;                               // (B, T, N)  B̄_{n,t} = Δ_t B_n
  auto h = torch::zeros({Bsz, o_.N}, x.options());  // (B, N)
  std::vector<torch::Tensor> ys;
  ys.reserve(T);
  for (int64_t t = 0; t < T; ++t) {
    h = a.select(1, t) * h + bbar.select(1, t) * x.select(1, t).unsqueeze(-1);  // h_t = a_t h_{t-1} + B̄_t x_t
    ys.push_back((h * C).sum(-1));                                               // ŷ_t = C·h_t
  }
  return torch::stack(ys, 1);  // (B, T)
}

torch::Tensor MambaDiagExpImpl::forward_kernel(const torch::Tensor& x) {
  const int64_t T = x.size(1);
  auto rates = torch::exp(theta);  // (N)  -A_n (Δ folded in when LTI)
  if (!o_.selective) {
    // LTI: M is Toeplitz, K(τ) = Σ_n C_n B_n exp(-τ exp θ_n)
    auto tau = torch::arange(T, x.options()).unsqueeze(1);  // (T, 1)
    auto K = torch::exp(-tau * rates).matmul(C * B);       // (T)
    return causal_conv(x, K);
  }
  // Selective: M[t,s] = Σ_n C_n exp(S_{n,t} - S_{n,s}) Δ_s B_n, S_{n,t} = Σ_{r<=t} log a_{n,r} (SSD segsum)
  auto dt = delta(x);                                         // (B, T)
  auto S = (-dt.unsqueeze(-1) * rates).cumsum(1);             // (B, T, N)
  auto seg = S.unsqueeze(2) - S.unsqueeze(1);                 // (B, T, T, N) [b,t,s,n] = S_t - S_s
  auto ar = torch::arange(T, x.options().dtype(torch::kLong));
  auto lower = (ar.unsqueeze(1) >= ar.unsqueeze(0)).view({1, T, T, 1});
  auto L = torch::exp(torch::where(lower, seg, torch::full({}, -INFINITY, x.options())));  // (B, T, T, N)
  auto w = (dt * x).unsqueeze(-1) * B;                        // (B, T, N)  Δ_s B_n x_s
  return torch::einsum("btsn,bsn,n->bt", {L, w, C});         // (B, T)
}

std::vector<double> MambaDiagExpImpl::decays(const torch::Tensor& x_ref) {
  torch::NoGradGuard ng;
  double dt_mean = o_.selective ? delta(x_ref).mean().item<double>() : 1.0;
  auto d = to_vector(torch::exp(-dt_mean * torch::exp(theta)));
  std::sort(d.begin(), d.end());
  return d;
}

// ---- linear_rnn --------------------------------------------------------------------------
LinearRnnImpl::LinearRnnImpl(int N) {
  TORCH_CHECK(N >= 1, "linear_rnn: N must be >= 1");
  std::vector<double> a;
  for (double r : initial_rates(N)) a.push_back(std::exp(-r));
  // starts as the diagonal model plus a small dense perturbation
  A = register_parameter("A", torch::diag(from_vector(a)) + 0.01 * torch::randn({N, N}, torch::kFloat64));
  B = register_parameter("B", torch::ones({N}, torch::kFloat64));
  C = register_parameter("C", torch::randn({N}, torch::kFloat64) / std::sqrt(double(N)));
}

torch::Tensor LinearRnnImpl::forward(const torch::Tensor& x) {
  const int64_t T = x.size(1);
  std::vector<torch::Tensor> K;  // K(τ) = C A^τ B
  K.reserve(T);
  auto v = B;
  for (int64_t t = 0; t < T; ++t) {
    K.push_back((C * v).sum());
    if (t + 1 < T) v = A.mv(v);
  }
  return causal_conv(x, torch::stack(K));
}

torch::Tensor LinearRnnImpl::forward_recurrent(const torch::Tensor& x) {
  auto h = torch::zeros({x.size(0), A.size(0)}, x.options());  // (B, N)
  std::vector<torch::Tensor> ys;
  for (int64_t t = 0; t < x.size(1); ++t) {
    h = h.matmul(A.t()) + x.select(1, t).unsqueeze(-1) * B;  // h_t = A h_{t-1} + B x_t
    ys.push_back(h.matmul(C));
  }
  return torch::stack(ys, 1);
}

std::vector<double> LinearRnnImpl::decays(const torch::Tensor&) {
  auto a = to_vector(A);
  const int N = static_cast<int>(A.size(0));
  Eigen::MatrixXd M(N, N);
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < N; ++j) M(i, j) = a[static_cast<size_t>(i) * N + j];
  Eigen::EigenSolver<Eigen::MatrixXd> es(M, /*computeEigenvectors=*/false);
  std::vector<double> d;
  for (int i = 0; i < N; ++i) d.push_back(std::abs(es.eigenvalues()[i]));
  std::sort(d.begin(), d.end());
  return d;
}

// ---- training ----------------------------------------------------------------------------
double eval_mse(TsModelImpl& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard ng;
  model.eval();
  double v = torch::mse_loss(model.forward(x), y).item<double>();
  model.train();
  return v;
}

TrainResult train_regressor(TsModelImpl& model, const torch::Tensor& x_train, const torch::Tensor& y_train,
                            const torch::Tensor& x_val, const torch::Tensor& y_val, const TrainOptions& opt,
                            const std::function<void(const EpochStats&)>& on_epoch) {
  TrainResult res;
  auto params = model.parameters();
  std::unique_ptr<torch::optim::Optimizer> optim;
  if (opt.optimizer == "lbfgs") {
    optim = std::make_unique<torch::optim::LBFGS>(
        params, torch::optim::LBFGSOptions(opt.lr)
                    .max_iter(opt.lbfgs_iters)
                    .history_size(50)
                    .tolerance_grad(1e-14)     // the noise floor is ~1e-8: keep iterating far below it
                    .tolerance_change(1e-20)
                    .line_search_fn(std::string("strong_wolfe")));
  } else {
    optim = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(opt.lr));
  }
  std::mt19937_64 rng(opt.seed ^ 0x5eedULL);
  const int64_t S = x_train.size(0);
  std::vector<int64_t> order(S);
  std::iota(order.begin(), order.end(), 0);
  std::vector<torch::Tensor> last_good;
  auto snapshot = [&] {
    last_good.clear();
    for (auto& p : params) last_good.push_back(p.detach().clone());
  };
  snapshot();
  int flat = 0;  // consecutive epochs without relative change of the training MSE
  if (on_epoch) {  // epoch 0: the initialisation, so curves start where training starts
    EpochStats st0;
    st0.train_mse = eval_mse(model, x_train, y_train);
    st0.val_mse = eval_mse(model, x_val, y_val);
    if (std::isfinite(st0.train_mse) && std::isfinite(st0.val_mse)) on_epoch(st0);
  }
  for (int e = 1; e <= opt.epochs; ++e) {
    Stopwatch sw;
    if (opt.optimizer == "lbfgs") {
      auto* lb = static_cast<torch::optim::LBFGS*>(optim.get());
      lb->step([&] {
        lb->zero_grad();
        auto loss = torch::mse_loss(model.forward(x_train), y_train);
        loss.backward();
        return loss;
      });
    } else {
      std::shuffle(order.begin(), order.end(), rng);
      for (int64_t i = 0; i < S; i += opt.batch_size) {
        int64_t j = std::min<int64_t>(S, i + opt.batch_size);
        auto idx = torch::tensor(std::vector<int64_t>(order.begin() + i, order.begin() + j),
                                 torch::TensorOptions().dtype(torch::kLong)).to(x_train.device());
        optim->zero_grad();
        auto loss = torch::mse_loss(model.forward(x_train.index_select(0, idx)), y_train.index_select(0, idx));
        loss.backward();
        if (opt.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, opt.grad_clip);
        optim->step();
      }
    }
    EpochStats st;
    st.epoch = e;
    st.train_mse = eval_mse(model, x_train, y_train);
    st.val_mse = eval_mse(model, x_val, y_val);
    st.seconds = sw.seconds();
    if (!std::isfinite(st.train_mse) || !std::isfinite(st.val_mse)) {
      // keep the last finite parameters; the caller reports the divergence
      torch::NoGradGuard ng;
      for (size_t i = 0; i < params.size(); ++i) params[i].copy_(last_good[i]);
      res.diverged = true;
      break;
    }
    snapshot();
    const double prev = res.history.empty() ? INFINITY : res.history.back().train_mse;
    res.history.push_back(st);
    if (on_epoch) on_epoch(st);
    // L-BFGS at its optimum keeps line-searching without progress: stop when flat
    flat = std::abs(prev - st.train_mse) <= opt.flat_rel_tol * st.train_mse ? flat + 1 : 0;
    if (opt.optimizer == "lbfgs" && opt.flat_epochs > 0 && flat >= opt.flat_epochs) {
      res.converged_early = true;
      break;
    }
  }
  res.final_train_mse = eval_mse(model, x_train, y_train);
  res.final_val_mse = eval_mse(model, x_val, y_val);
  res.best_val_mse = res.final_val_mse;
  for (auto& h : res.history) res.best_val_mse = std::min(res.best_val_mse, h.val_mse);
  return res;
}

}  // namespace ssmlab::time_series
