// models/kernel_profile.h: the kernel categories on kernel names in the form cuBLAS, ATen, FlashAttention and
// ssmlab's kernels name them (the profiler has not yet run on a GPU: docs/performance.md, "Profiling the step"),
// and the profiler's refusal off the GPU. The GPU run itself is bench_mamba_train --profile-steps (docs/performance.md).
#include <gtest/gtest.h>

#include "models/kernel_profile.h"

namespace sm = ssmlab::models;

TEST(KernelProfile, CategoriesOfRealKernelNames) {
  const std::pair<const char*, const char*> cases[] = {
      {"void ssmlab::kernels::cuda::(anonymous namespace)::scan_fwd_kernel<__nv_bfloat16>(ssmlab::kernels::cuda::ScanParams)", "selective_scan"},
      {"void ssmlab::kernels::cuda::(anonymous namespace)::scan_bwd_kernel<float>(ssmlab::kernels::cuda::ScanParams)", "selective_scan"},
      {"void ssmlab::kernels::cuda::(anonymous namespace)::state_update_kernel<float>(ssmlab::kernels::cuda::StateUpdateParams)", "state_update"},
      {"void ssmlab::kernels::cuda::(anonymous namespace)::conv1d_fwd_kernel<__nv_bfloat16>(ssmlab::kernels::cuda::ConvParams)", "causal_conv1d"},
      {"nvjet_hsh_256x128_64x4_1x2_h_bz_coopA_NTN", "gemm"},
      {"sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1", "gemm"},
      {"void cutlass::Kernel2<cutlass_80_wmma_tensorop_bf16_s161616gemm_bf16_32x32_128x2_tn_align8>(Params)", "gemm"},
      {"void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 128, 4, false, false, cutlass::bfloat16_t> >(Flash_fwd_params)", "attention"},
      {"void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float, float, float, at::native::(anonymous namespace)::LogSoftMaxForwardEpilogue>(float*, float const*, int)", "softmax_cross_entropy"},
      {"void at::native::(anonymous namespace)::nll_loss_forward_reduce_cuda_kernel_2d<float, float, long>(float*, float*, float const*, long const*, float const*, bool, long, long, long, long)", "softmax_cross_entropy"},
      {"void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<float, float>(int, float, float const*, float const*, float const*, float*, float*, float*)", "norm"},
      {"void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::TensorListMetadata<4>, at::native::(anonymous namespace)::FusedAdamMathFunctor<float, 4, (at::native::ADAM_MODE)1, false>, double, float*, double, double, double, double, double, bool, float*, float*>(...)", "optimizer"},
      {"void at::native::vectorized_elementwise_kernel<4, at::native::bfloat16_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda(c10::BFloat16)#1}, std::array<char*, 2ul> >(int, ...)", "copy_cast"},
      {"void at::native::(anonymous namespace)::CatArrayBatchedCopy<at::native::(anonymous namespace)::OpaqueType<4u>, unsigned int, 3, 128, 1>(...)", "copy_cast"},
      {"void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps<float, float, float, float>, unsigned int, float, 4> >(...)", "reduction"},
      {"void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>, std::array<char*, 3ul> >(int, at::native::CUDAFunctor_add<float>, std::array<char*, 3ul>)", "elementwise"},
      {"void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, std::array<char*, 1ul> >(int, ...)", "fill"},
      {"Memset (Device)", "fill"},
      {"void at::native::index_elementwise_kernel<128, 4>(long, ...)", "elementwise"},
      {"Memcpy DtoH (Device -> Pinned)", "copy_cast"},
      {"some_unknown_kernel", "other"},
  };
  for (const auto& [name, want] : cases) EXPECT_EQ(sm::kernel_category(name), want) << name;
}

TEST(KernelProfile, OffTheGpuItSaysWhyAndRunsNothing) {
  int calls = 0;
  auto p = sm::profile_kernels([&] { ++calls; }, 3, torch::Device(torch::kCPU));
  EXPECT_FALSE(p.available);
  EXPECT_NE(p.why.find("not a CUDA device"), std::string::npos) << p.why;
  EXPECT_EQ(calls, 0);
  const auto j = p.to_json();
  EXPECT_EQ(j["available"], false);
  EXPECT_EQ(j["why"], p.why);
}
