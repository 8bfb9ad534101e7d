// data.h — the mixture-of-decays regression problem (torch-free).
//
// Design: the generator works on plain row-major std::vector<double> so that it can be checked
// against hand arithmetic without LibTorch; the trainer copies the arrays into tensors once.
//
// Legend: S = number of sequences, T = sequence length, K = number of true decays,
//         N = state size of a model.
//
// Input distribution: x_{i,t} ~ N(0, 1), i.i.d. over sequences i and steps t (Gaussian white
// noise). White noise excites every lag equally, so E[(y - ŷ)^2] is the squared l2 distance
// between the true and the learnt impulse responses (plus the noise variance).
//
// Target (K decays λ_k, weights c_k):
//     y_t = Σ_k c_k Σ_{s<=t} λ_k^(t-s) x_s + σ ε_t,        ε_t ~ N(0, 1)
// computed by the K scalar recurrences h_{k,t} = λ_k h_{k,t-1} + x_t (h_{k,-1} = 0), y_t = Σ_k c_k h_{k,t}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ssmlab::time_series {

struct DecayProblem {
  std::vector<double> lambdas{0.9, 0.5};  // λ_k, the true decays (K)
  std::vector<double> coeffs{1.0, 0.7};   // c_k, their weights (K)
  double noise_std = 1e-4;                // σ of the additive target noise
  int T = 100;                            // steps per sequence
};

// S sequences of length T, row-major: x[i*T + t].
struct SeqSet {
  int S = 0, T = 0;
  std::vector<double> x, y;        // inputs, noisy targets
  std::vector<double> y_clean;     // targets without noise (for diagnostics)
};

struct Split {
  SeqSet train, val;
};

// Checks a problem; returns "" when valid, else a one-line message (without "error: ").
// λ must lie in (0, 1) unless allow_unstable.
std::string validate(const DecayProblem& p, bool allow_unstable);

// Noise-free target of one sequence x (length T) by the K scalar recurrences.
std::vector<double> mixture_response(const DecayProblem& p, const std::vector<double>& x);

// S sequences drawn from std::mt19937_64(seed): inputs first (S*T normals), then noise (S*T normals).
SeqSet generate(const DecayProblem& p, int S, std::uint64_t seed);

// Train and validation sets from independent streams derived from one seed.
Split make_split(const DecayProblem& p, int n_train, int n_val, std::uint64_t seed);

double mse(const std::vector<double>& a, const std::vector<double>& b);
double variance(const std::vector<double>& a);

// ---- matching learnt decays to true ones ----------------------------------------------
// Minimum-cost assignment between the smaller and the larger of two sets (Hungarian
// algorithm, O(n^2 m)); cost(i, j) = |learnt_i - true_j| / |true_j|.
struct DecayMatch {
  std::vector<std::pair<int, int>> pairs;  // (learnt index, true index), min(N, K) pairs
  std::vector<double> rel_err;             // per pair, same order
  double max_rel_err = 0, mean_rel_err = 0;
  int unmatched_true = 0;                  // K - N when N < K
};
DecayMatch match_decays(const std::vector<double>& learnt, const std::vector<double>& truth);

// Rectangular assignment: cost is rows x cols (rows <= cols), row-major; returns the column
// of each row minimising the total cost.
std::vector<int> hungarian(const std::vector<double>& cost, int rows, int cols);

}  // namespace ssmlab::time_series
