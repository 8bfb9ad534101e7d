// ssd.cpp — the chunked SSD, its sequential twin and the dispatch between them (ssd.h).
#include "kernels/ssd.h"

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssmlab::kernels {

namespace F = torch::nn::functional;

namespace {
// Throws std::invalid_argument unless x (B, L, H, P), dt (B, L, H), A (H), Bm and Cm (B, L, G, N) with G | H.
void check_ssd_inputs(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A,
                      const torch::Tensor& Bm, const torch::Tensor& Cm) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("ssd: " + what); };
  if (!x.defined() || x.dim() != 4) fail("x must have shape (B, L, H, P)");
  const int64_t b = x.size(0), L = x.size(1), H = x.size(2);
  if (!dt.defined() || dt.sizes() != torch::IntArrayRef{b, L, H}) fail("dt must have shape (B, L, H) = x's first three");
  if (!A.defined() || A.dim() != 1 || A.size(0) != H) fail("A must have shape (H) = (" + std::to_string(H) + ")");
  for (const auto& [name, t] : {std::make_pair("Bm", &Bm), std::make_pair("Cm", &Cm)}) {
    if (!t->defined() || t->dim() != 4 || t->size(0) != b || t->size(1) != L)
      fail(std::string(name) + " must have shape (B, L, G, N) with x's B and L");
    if (t->size(2) < 1 || H % t->size(2) != 0)
      fail(std::string(name) + " has " + std::to_string(t->size(2)) + " groups, which must divide H = " + std::to_string(H));
  }
  if (Bm.sizes() != Cm.sizes()) fail("Bm and Cm must have the same shape (B, L, G, N)");
}
}  // namespace

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
  check_ssd_inputs(x_in, dt_in, A_in, B_in, C_in);
  if (Q < 1) throw std::invalid_argument("ssd: chunk_size must be >= 1, got " + std::to_string(Q));
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
  check_ssd_inputs(x_in, dt_in, A_in, B_in, C_in);
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

torch::Tensor ssd(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A, const torch::Tensor& Bm,
                  const torch::Tensor& Cm, int64_t chunk_size, torch::Tensor* final_state, KernelImpl impl) {
  if (impl == KernelImpl::Reference) return ssd_sequential(x, dt, A, Bm, Cm, final_state);
  return ssd_chunked(x, dt, A, Bm, Cm, chunk_size, final_state);
}

}  // namespace ssmlab::kernels
