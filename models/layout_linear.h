// layout_linear.h — y = x W^T + b between the two activation layouts of a Mamba block, without copies.
//
// The Mamba kernels (kernels/causal_conv1d.h, kernels/selective_scan.h) read channels-first (B, C, L)
// tensors, contiguous along L, while the residual stream is channels-last (B, L, C). Written with
// torch::nn::Linear and transposes, every projection of the block pays a transposed copy of a (B, E, L)
// activation forward and another in backward: torch::matmul folds the batch into the rows when the weight
// requires grad and then makes the transposed result contiguous (ATen's matmul, `should_fold`); the kernels
// then copy their strided inputs. On the H200 at mamba-130m's shape, B = 8, L = 2048, those copies were
// 34 ms of a 169 ms training step (docs/performance.md, "Profiling the step").
//
// layout_linear computes the product per batch row with one batched GEMM over the weight broadcast
// along the batch (stride 0, no copy), so the output comes out contiguous in the layout asked for, and
// its backward does the same for the input gradient. Shapes (C_in = weight.size(1), C_out = weight.size(0)):
//   in  = Layout::BLC: x (B, L, C_in)      in  = Layout::BCL: x (B, C_in, L)  (any batch stride; L or C unit-stride)
//   out = Layout::BLC: y (B, L, C_out)     out = Layout::BCL: y (B, C_out, L)  contiguous
// weight (C_out, C_in), bias (C_out) or undefined. Gradients: x, weight and bias, each in its own dtype.
// The weight gradient is formed as a (B, C_out, C_in) batch of products (each rounded to the compute dtype),
// summed over B in fp32 (fp64 for fp64); transient memory B * C_out * C_in elements in the compute dtype.
// dtype: under CUDA autocast the autocast dtype (bf16 in ssmlab), as torch::nn::Linear would run;
// otherwise the promoted dtype of x and weight. Throws std::invalid_argument on a shape mismatch.
//
// The reference twin layout_linear_ref is torch::nn::functional::linear on transposed views, made
// contiguous; tests/models/test_layout_linear.cpp compares the two in fp64, gradients included.
#pragma once

#include <torch/torch.h>

namespace ssmlab::models {

enum class Layout {
  BLC,  // (batch, length, channels): channels last, the residual stream's layout
  BCL,  // (batch, channels, length): channels first, the causal conv's and the selective scan's layout
};

torch::Tensor layout_linear(const torch::Tensor& x, Layout in, const torch::Tensor& weight, const torch::Tensor& bias,
                            Layout out);

// The twin: F::linear on x in (B, L, C_in), then transposed and made contiguous as `out` asks.
torch::Tensor layout_linear_ref(const torch::Tensor& x, Layout in, const torch::Tensor& weight,
                                const torch::Tensor& bias, Layout out);

}  // namespace ssmlab::models
