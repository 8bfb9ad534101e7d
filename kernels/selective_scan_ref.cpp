// selective_scan_ref.cpp — the reference selective scan: a sequential loop over L of tensor ops.
// No fusion, no custom backward (autograd differentiates the loop), fp32 (or fp64) accumulation.
// The fast kernels are tested against this file.
#include <sstream>
#include <stdexcept>

#include "kernels/selective_scan.h"

namespace ssmlab::kernels {

namespace {
std::string shape_of(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}
void expect(bool ok, const std::string& name, const std::string& expected, const torch::Tensor& t) {
  if (!ok) throw std::invalid_argument("selective_scan: " + name + " must have shape " + expected + ", got " + shape_of(t));
}
}  // namespace

void check_scan_inputs(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                       const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D,
                       const torch::Tensor& z, const torch::Tensor& delta_bias) {
  if (!u.defined() || u.dim() != 3) throw std::invalid_argument("selective_scan: u must have shape (B, D, L), got " + (u.defined() ? shape_of(u) : std::string("undefined")));
  const int64_t Bt = u.size(0), Dd = u.size(1), L = u.size(2);
  const std::string bdl = "(" + std::to_string(Bt) + ", " + std::to_string(Dd) + ", " + std::to_string(L) + ")";
  expect(delta.defined() && delta.sizes() == u.sizes(), "delta", bdl, delta);
  expect(A.defined() && A.dim() == 2 && A.size(0) == Dd, "A", "(D=" + std::to_string(Dd) + ", N)", A);
  const int64_t N = A.size(1);
  for (auto* p : {&B, &C}) {
    const std::string nm = p == &B ? "B" : "C";
    const auto& t = *p;
    bool ok = t.defined() && ((t.dim() == 3 && t.size(0) == Bt && t.size(1) == N && t.size(2) == L) ||
                              (t.dim() == 4 && t.size(0) == Bt && t.size(2) == N && t.size(3) == L && t.size(1) >= 1 &&
                               Dd % t.size(1) == 0));
    expect(ok, nm, "(B, N, L) = (" + std::to_string(Bt) + ", " + std::to_string(N) + ", " + std::to_string(L) +
                       ") or (B, G, N, L) with G dividing D=" + std::to_string(Dd), t);
  }
  if (D.defined()) expect(D.dim() == 1 && D.size(0) == Dd, "D", "(D=" + std::to_string(Dd) + ")", D);
  if (delta_bias.defined()) expect(delta_bias.dim() == 1 && delta_bias.size(0) == Dd, "delta_bias", "(D=" + std::to_string(Dd) + ")", delta_bias);
  if (z.defined()) expect(z.sizes() == u.sizes(), "z", bdl, z);
}

ScanResult selective_scan_ref(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                              const torch::Tensor& B, const torch::Tensor& C, const torch::Tensor& D,
                              const torch::Tensor& z, const torch::Tensor& delta_bias, bool delta_softplus,
                              bool return_last_state) {
  check_scan_inputs(u, delta, A, B, C, D, z, delta_bias);
  const auto acc = u.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const int64_t Bt = u.size(0), Dd = u.size(1), L = u.size(2), N = A.size(1);
  auto uf = u.to(acc);                                  // (Bt, D, L)
  auto dt = delta.to(acc);                              // (Bt, D, L)
  if (delta_bias.defined()) dt = dt + delta_bias.to(acc).unsqueeze(-1);
  if (delta_softplus) dt = torch::nn::functional::softplus(dt);
  auto Af = A.to(acc);                                  // (D, N)
  // Broadcast B, C to per-channel (Bt, D, N, L).
  auto expand_bc = [&](const torch::Tensor& t) {
    auto tf = t.to(acc);
    if (tf.dim() == 3) return tf.unsqueeze(1).expand({Bt, Dd, N, L});                 // shared by all channels
    const int64_t G = tf.size(1);
    return tf.repeat_interleave(Dd / G, /*dim=*/1);                                   // (Bt, D, N, L)
  };
  auto Bf = expand_bc(B), Cf = expand_bc(C);
  auto deltaA = torch::exp(dt.unsqueeze(2) * Af.unsqueeze(0).unsqueeze(-1));          // (Bt, D, N, L)
  auto deltaBu = dt.unsqueeze(2) * Bf * uf.unsqueeze(2);                              // (Bt, D, N, L)
  // Time-major slices via unbind: its backward is one stack, where L calls to select() would
  // each build a full-size zero gradient (O(L^2) memory traffic in backward).
  auto time_major = [](const torch::Tensor& t) { return t.permute({3, 0, 1, 2}).contiguous().unbind(0); };
  const auto dA_t = time_major(deltaA), dBu_t = time_major(deltaBu), C_t = time_major(Cf);  // L x (Bt, D, N)
  auto h = torch::zeros({Bt, Dd, N}, uf.options());                                   // (Bt, D, N)
  std::vector<torch::Tensor> ys;
  ys.reserve(L);
  for (int64_t t = 0; t < L; ++t) {
    h = dA_t[t] * h + dBu_t[t];                                                       // (Bt, D, N)
    ys.push_back((h * C_t[t]).sum(-1));                                               // (Bt, D)
  }
  auto y = torch::stack(ys, /*dim=*/2);                                               // (Bt, D, L)
  if (D.defined()) y = y + uf * D.to(acc).unsqueeze(-1);
  if (z.defined()) y = y * torch::silu(z.to(acc));
  ScanResult r;
  r.out = y.to(u.scalar_type());
  if (return_last_state) r.last_state = h;
  return r;
}

}  // namespace ssmlab::kernels
