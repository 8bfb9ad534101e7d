// layout_linear.cpp — the batched-GEMM projection between (B, L, C) and (B, C, L) (layout_linear.h).
#include "models/layout_linear.h"
#include "models/torch_util.h"

#include <c10/core/impl/LocalDispatchKeySet.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace ssmlab::models {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// The dtype the product runs in: CUDA autocast's when it is on for x's device, else the promoted one.
at::ScalarType compute_dtype(const Tensor& x, const Tensor& w) {
  if (x.is_cuda() && x.scalar_type() != at::kDouble) {  // autocast leaves fp64 alone
    if (auto dtype = cuda_autocast_dtype()) return *dtype;
  }
  return at::promote_types(x.scalar_type(), w.scalar_type());
}

// x as the (B, C_in, L) batch of matrices X_b (a view), whatever its layout.
Tensor as_bcl(const Tensor& t, bool channels_first) { return channels_first ? t : t.transpose(1, 2); }

class LayoutLinearFunction : public torch::autograd::Function<LayoutLinearFunction> {
 public:
  // xc, wc: already in the compute dtype (the casts before apply() carry the gradients back to the
  // callers' dtypes). Returns x W^T in the requested layout, contiguous; the bias is added outside.
  static Tensor forward(AutogradContext* ctx, const Tensor& xc, const Tensor& wc, bool in_cf, bool out_cf) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);  // dtypes are chosen here
    const auto X = as_bcl(xc, in_cf);                                  // (B, C_in, L)
    const int64_t B = X.size(0), Cin = X.size(1), Cout = wc.size(0);
    Tensor y = out_cf ? at::bmm(wc.expand({B, Cout, Cin}), X)         // (B, C_out, L) = W X_b
                      : at::bmm(X.transpose(1, 2), wc.t().expand({B, Cin, Cout}));  // (B, L, C_out) = X_b^T W^T
    ctx->save_for_backward({xc, wc});
    ctx->saved_data["in_cf"] = in_cf;
    ctx->saved_data["out_cf"] = out_cf;
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const auto saved = ctx->get_saved_variables();
    const Tensor &xc = saved[0], &wc = saved[1];
    const bool in_cf = ctx->saved_data["in_cf"].toBool(), out_cf = ctx->saved_data["out_cf"].toBool();
    const auto X = as_bcl(xc, in_cf);                                       // (B, C_in, L)
    const Tensor dY = as_bcl(grads[0].to(xc.scalar_type()), out_cf);       // (B, C_out, L), a view
    const int64_t B = X.size(0), Cin = X.size(1), Cout = wc.size(0);
    Tensor dx, dw;
    if (ctx->needs_input_grad(0)) {
      dx = in_cf ? at::bmm(wc.t().expand({B, Cin, Cout}), dY)                  // (B, C_in, L) = W^T dY_b
                 : at::bmm(dY.transpose(1, 2), wc.expand({B, Cout, Cin}));    // (B, L, C_in) = dY_b^T W
    }
    if (ctx->needs_input_grad(1)) {
      // sum_b dY_b X_b^T: a batch of (C_out, C_in) products in the compute dtype, summed in fp32 (or fp64)
      const auto acc = wc.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
      dw = B == 1 ? at::mm(dY[0], X[0].t()) : at::bmm(dY, X.transpose(1, 2)).sum(0, false, acc).to(wc.scalar_type());
    }
    return {dx, dw, Tensor(), Tensor()};
  }
};

void check_shapes(const char* who, const Tensor& x, Layout in, const Tensor& weight, const Tensor& bias) {
  auto shape = [](const Tensor& t) { return t.defined() ? c10::str(t.sizes()) : std::string("undefined"); };
  const int64_t c_axis = in == Layout::BCL ? 1 : 2;
  if (!x.defined() || x.dim() != 3 || !weight.defined() || weight.dim() != 2 || x.size(c_axis) != weight.size(1) ||
      (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0))))
    throw std::invalid_argument(std::string(who) + ": expected x " + (in == Layout::BCL ? "(B, C_in, L)" : "(B, L, C_in)") +
                                ", weight (C_out, C_in), bias (C_out) or none; got x " + shape(x) + ", weight " +
                                shape(weight) + ", bias " + shape(bias));
  if (weight.device() != x.device() || (bias.defined() && bias.device() != x.device()))
    throw std::invalid_argument(std::string(who) + ": x, weight and bias must be on one device");
}

}  // namespace

torch::Tensor layout_linear(const torch::Tensor& x, Layout in, const torch::Tensor& weight, const torch::Tensor& bias,
                            Layout out) {
  check_shapes("layout_linear", x, in, weight, bias);
  const auto ct = compute_dtype(x, weight);
  auto y = LayoutLinearFunction::apply(x.to(ct), weight.to(ct), in == Layout::BCL, out == Layout::BCL);
  if (!bias.defined()) return y;
  const int64_t c_out = weight.size(0);
  return y + bias.to(ct).view(out == Layout::BCL ? std::vector<int64_t>{1, c_out, 1} : std::vector<int64_t>{1, 1, c_out});
}

torch::Tensor layout_linear_ref(const torch::Tensor& x, Layout in, const torch::Tensor& weight,
                                const torch::Tensor& bias, Layout out) {
  check_shapes("layout_linear_ref", x, in, weight, bias);
  auto y = torch::nn::functional::linear(in == Layout::BCL ? x.transpose(1, 2) : x, weight, bias);  // (B, L, C_out)
  return (out == Layout::BCL ? y.transpose(1, 2) : y).contiguous();
}

}  // namespace ssmlab::models
