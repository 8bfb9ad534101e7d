// ssd.h — the SSD ("state space duality") layer of Mamba-2 on already-discretised inputs: the chunked
// form and its sequential reference twin.
//
// Paper: Dao & Gu, "Transformers are SSMs" (2024), Section 6 (the SSD algorithm: block decomposition
// of the semiseparable matrix) and Listing 1. Upstream: state-spaces/mamba
// mamba_ssm/modules/ssd_minimal.py (ssd_minimal_discrete, segsum), whose four numbered steps
// ssd_chunked keeps.
//
// Per head h, scalar decay a_t = exp(Δ_t A_h) (A_h < 0), state S_t in R^{P x N}:
//   S_t = a_t S_{t-1} + Δ_t x_t B_t^T        y_t = S_t C_t          (S_0 = 0; no D skip here)
//
// Shapes (docs/glossary.md: B batch, L length, H heads, P head dim, G groups of B and C, N d_state,
// Q chunk; head h reads group h / (H / G)):
//   x (B, L, H, P) (not yet multiplied by Δ)     dt (B, L, H) (Δ, after softplus)     A (H)
//   Bm, Cm (B, L, G, N)
// Returns y (B, L, H, P) and, when final_state is non-null, the state after the last step (B, H, P, N).
// Computed in fp32 (whatever the inputs' floating dtype), on the inputs' device; differentiable.
// Errors: std::invalid_argument naming the argument when a shape does not match the above, G does not
// divide H, or chunk_size < 1.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "kernels/kernel_impl.h"

namespace ssmlab::kernels {

// The chunked SSD in chunks of Q = chunk_size steps (L need not be a multiple of Q: the tail is padded
// with a = 1, x = 0, which leaves the state unchanged): 1. intra-chunk outputs by the quadratic
// (attention-like) form; 2. each chunk's final state; 3. the inter-chunk recurrence over chunk
// boundaries; 4. the states' contribution to each chunk's outputs. O(L Q) work in the quadratic part.
torch::Tensor ssd_chunked(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A,
                          const torch::Tensor& Bm, const torch::Tensor& Cm, int64_t chunk_size,
                          torch::Tensor* final_state = nullptr);

// The reference twin: the recurrence above, a loop over L. Slow, obviously correct.
torch::Tensor ssd_sequential(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A,
                             const torch::Tensor& Bm, const torch::Tensor& Cm, torch::Tensor* final_state = nullptr);

// The dispatch: Reference -> ssd_sequential; Auto, CpuFused, Cuda -> ssd_chunked (there is no fused
// SSD kernel yet; the chunked form is matrix products on any device).
torch::Tensor ssd(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A, const torch::Tensor& Bm,
                  const torch::Tensor& Cm, int64_t chunk_size, torch::Tensor* final_state = nullptr,
                  KernelImpl impl = KernelImpl::Auto);

// exp(segsum(a)): (..., T) -> (..., T, T) with [i, j] = exp(a_{j+1} + ... + a_i) for j <= i, 0 above
// (Listing 1's segsum, the stable form: masked cumulative sums, no differences of cumsums).
torch::Tensor segsum_exp(const torch::Tensor& a);

}  // namespace ssmlab::kernels
