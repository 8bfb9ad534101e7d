// models.h — sequence regressors for the mixture-of-decays problem, and their training loop.
//
// Legend (as in the Mamba/SSD papers): B = batch, T = sequence length (L in the papers),
// N = state size (d_state), Δ = step size, A = -exp(θ) the continuous decay rate,
// a = exp(Δ A) the discrete decay, B_n / C_n the input / output maps of state n.
//
// Every model maps a scalar input sequence x (B, T) to a scalar output ŷ (B, T) and is causal.
//
//   mamba_diag_exp  diagonal SSD-style block:  h_{n,t} = a_{n,t} h_{n,t-1} + B̄_{n,t} x_t,
//                   ŷ_t = Σ_n C_n h_{n,t},  a_{n,t} = exp(-Δ_t exp(θ_n)),  B̄_{n,t} = Δ_t B_n.
//                   Δ_t = 1 (time-invariant, default) or Δ_t = softplus(w x_t + b) (--selective).
//                   Two forms: the recurrence above, and the kernel ("attention", SSD) form
//                   ŷ = M x with the lower-triangular semiseparable matrix
//                   M[t,s] = Σ_n C_n exp(Σ_{r=s+1..t} log a_{n,r}) B̄_{n,s}  (Toeplitz when LTI:
//                   M[t,s] = K(t-s), K(τ) = Σ_n C_n B_n a_n^τ).
//   linear_rnn      dense linear recurrence h_t = A h_{t-1} + B x_t, ŷ_t = C h_t, A ∈ R^{N×N}
//                   (learnt decays = moduli of A's eigenvalues). Same state size, no diagonal
//                   or positivity structure: the baseline that shows what the parametrisation buys.
//
// NOTE (deviations from a full Mamba block): no input/output projections, no conv1d, no gate
// and no D skip; the τ = 0 term of the target (Σ_k c_k x_t) is carried by Σ_n C_n B_n like every
// other lag, so the learnt decays are identifiable.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace ssmlab::time_series {

// Common interface of the regressors (x: (B, T) -> ŷ: (B, T)).
struct TsModelImpl : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Learnt decays sorted ascending (empty for models without explicit decays).
  // x_ref: some inputs (B, T), used where decays depend on the input (selective Δ).
  virtual std::vector<double> decays(const torch::Tensor& x_ref) { (void)x_ref; return {}; }
  virtual bool has_decays() const { return false; }
};

// Initial decay rates exp(θ_n): geometric between 1.0 (a = 0.37) and 0.02 (a = 0.98);
// N = 1 takes the geometric mean. Fixed, not seed-dependent, so runs differ only in B, C.
std::vector<double> initial_rates(int N);

struct DiagExpOptions {
  int N = 2;
  bool selective = false;       // input-dependent Δ_t = softplus(w x_t + b)
  std::string form = "kernel";  // kernel | recurrent (forward() dispatch)
};

class MambaDiagExpImpl : public TsModelImpl {
 public:
  explicit MambaDiagExpImpl(DiagExpOptions o);
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor forward_recurrent(const torch::Tensor& x);  // loop over t
  torch::Tensor forward_kernel(const torch::Tensor& x);     // ŷ = M x
  std::vector<double> decays(const torch::Tensor& x_ref) override;
  bool has_decays() const override { return true; }
  // Δ (B, T): ones, or softplus(w x + b) when selective.
  torch::Tensor delta(const torch::Tensor& x);
  const DiagExpOptions& options() const { return o_; }

  torch::Tensor theta, B, C;     // (N) each
  torch::Tensor dt_w, dt_b;      // (1) each, selective only

 private:
  DiagExpOptions o_;
};
TORCH_MODULE(MambaDiagExp);

class LinearRnnImpl : public TsModelImpl {
 public:
  explicit LinearRnnImpl(int N);
  torch::Tensor forward(const torch::Tensor& x) override;  // kernel form, K(τ) = C A^τ B
  torch::Tensor forward_recurrent(const torch::Tensor& x);
  std::vector<double> decays(const torch::Tensor& x_ref) override;
  bool has_decays() const override { return true; }
  torch::Tensor A, B, C;  // (N, N), (N), (N)
};
TORCH_MODULE(LinearRnn);

// ŷ = M x for a causal Toeplitz M[t,s] = K(t-s): x (B, T), K (T) -> (B, T).
torch::Tensor causal_conv(const torch::Tensor& x, const torch::Tensor& K);

// ---- training -----------------------------------------------------------------------
struct TrainOptions {
  int epochs = 60;
  std::string optimizer = "lbfgs";  // lbfgs (full batch, strong Wolfe) | adam (minibatches)
  double lr = 1.0;                  // lbfgs step size, or adam learning rate
  int batch_size = 64;              // adam only
  int lbfgs_iters = 20;             // iterations per epoch (lbfgs)
  double grad_clip = 1.0;           // adam only; 0 disables
  std::uint64_t seed = 0;           // minibatch order
  // lbfgs only: stop once the training MSE has changed by less than flat_rel_tol (relative)
  // for flat_epochs consecutive epochs (0 = always run every epoch)
  int flat_epochs = 5;
  double flat_rel_tol = 1e-9;
};

struct EpochStats {
  int epoch = 0;
  double train_mse = 0, val_mse = 0, seconds = 0;
};

struct TrainResult {
  std::vector<EpochStats> history;
  double final_train_mse = 0, final_val_mse = 0, best_val_mse = 0;
  bool diverged = false;  // a non-finite loss stopped training (the last finite epoch is kept)
  bool converged_early = false;  // stopped by the flat_epochs rule
};

// Trains `model` on (x_train, y_train), evaluating on (x_val, y_val) after each epoch
// (tensors (S, T), on the model's device/dtype). on_epoch is called once before training
// (epoch 0, the initial parameters; not part of TrainResult::history) and after every epoch.
TrainResult train_regressor(TsModelImpl& model, const torch::Tensor& x_train, const torch::Tensor& y_train,
                            const torch::Tensor& x_val, const torch::Tensor& y_val, const TrainOptions& opt,
                            const std::function<void(const EpochStats&)>& on_epoch = nullptr);

double eval_mse(TsModelImpl& model, const torch::Tensor& x, const torch::Tensor& y);

}  // namespace ssmlab::time_series
