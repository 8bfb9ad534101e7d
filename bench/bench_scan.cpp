// bench_scan — Google Benchmark for the selective scan: reference vs fused CPU vs CUDA, fwd and fwd+bwd.
//
// Names: BM_scan/<impl>/<pass>/B:<Bt>/D:<D>/L:<L>/N:<N>/<dtype>, impl ∈ {reference, cpu_fused, cuda},
// pass ∈ {fwd, fwdbwd}. Every case has z, D, delta_bias and softplus on (the Mamba block's call).
//   bench_scan --quick            CPU shapes only (B=4, D=256, L=512, N=16, fp32), fixed small
//                                 iteration counts, < 1 min; prints the ratio table whose last line is
//                                 "cpu_fused_speedup_fwdbwd: X".
//   bench_scan [--threads T] [benchmark flags]   CPU shapes, plus the GPU shapes (B=8, D=1536, L=2048,
//                                 N=16, fp32 and bf16; the CUDA kernel also at N=32 and 64) when built
//                                 with CUDA and a GPU is present.
// Counters: bytes_per_second from the minimum HBM/DRAM traffic (each input read once, each output
// written once; B and C counted once per batch row), and hbm_frac = that rate / 3.35 TB/s (H100 SXM),
// reported for CUDA runs only.
#include "ssmlab/main_guard.h"
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "kernels/selective_scan.h"
#include "kernels/selective_scan_internal.h"

#ifdef SSMLAB_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

using namespace ssmlab::kernels;

namespace {

constexpr double kHbmBytesPerSecond = 3.35e12;  // H100 SXM datasheet

struct Shape {
  int64_t Bt, D, L, N;
  torch::ScalarType dtype;
  torch::Device device;
};

std::string dtype_name(torch::ScalarType t) {
  return t == torch::kFloat32 ? "fp32" : t == torch::kBFloat16 ? "bf16" : t == torch::kFloat64 ? "fp64" : "other";
}

struct Inputs {
  torch::Tensor u, delta, A, B, C, D, z, delta_bias, dout;
  std::vector<torch::Tensor*> leaves() { return {&u, &delta, &A, &B, &C, &D, &z, &delta_bias}; }
};

Inputs make(const Shape& s, bool requires_grad) {
  torch::manual_seed(0);
  auto act = torch::TensorOptions().dtype(s.dtype).device(s.device);
  auto w = torch::TensorOptions().dtype(torch::kFloat32).device(s.device);  // weights stay fp32 (as in Mamba)
  Inputs x;
  x.u = torch::randn({s.Bt, s.D, s.L}, act);
  x.delta = (torch::randn({s.Bt, s.D, s.L}, w) * 0.5 - 1.0).to(s.dtype);
  x.z = torch::randn({s.Bt, s.D, s.L}, act);
  x.B = torch::randn({s.Bt, s.N, s.L}, act);
  x.C = torch::randn({s.Bt, s.N, s.L}, act);
  x.A = -(torch::rand({s.D, s.N}, w) + 0.5);
  x.D = torch::randn({s.D}, w);
  x.delta_bias = torch::randn({s.D}, w) * 0.1;
  x.dout = torch::randn({s.Bt, s.D, s.L}, act);
  if (s.dtype == torch::kFloat64)
    for (auto* t : x.leaves()) *t = t->to(torch::kFloat64);
  if (requires_grad)
    for (auto* t : x.leaves()) t->set_requires_grad(true);
  return x;
}

// Minimum bytes: fwd reads u, delta, z, B, C and writes out; bwd reads u, delta, z, B, C, dout and
// writes du, ddelta, dz, dB, dC (per-channel parameters are negligible).
double min_bytes(const Shape& s, bool backward) {
  const double e = static_cast<double>(torch::elementSize(s.dtype));
  const double bdl = double(s.Bt) * s.D * s.L, bnl = double(s.Bt) * s.N * s.L;
  const double fwd = e * (4 * bdl + 2 * bnl);
  return backward ? fwd + e * (7 * bdl + 4 * bnl) : fwd;
}

void sync(const Shape& s) {
#ifdef SSMLAB_WITH_CUDA
  if (s.device.is_cuda()) c10::cuda::getCurrentCUDAStream().synchronize();
#else
  (void)s;
#endif
}

void run_once(Inputs& x, KernelImpl impl, bool backward) {
  if (!backward) {
    torch::NoGradGuard ng;
    auto r = selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.delta_bias, true, false, impl);
    benchmark::DoNotOptimize(r.out.data_ptr());
    return;
  }
  for (auto* t : x.leaves()) t->mutable_grad() = torch::Tensor();
  auto r = selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.delta_bias, true, false, impl);
  r.out.backward(x.dout);
  benchmark::DoNotOptimize(x.u.grad().data_ptr());
}

void BM_scan(benchmark::State& state, Shape s, KernelImpl impl, bool backward) {
  Inputs x = make(s, backward);
  // warm-up (allocator, module load); the reference's fwd+bwd is too slow to run twice for nothing
  if (!(impl == KernelImpl::Reference && backward)) run_once(x, impl, backward);
  sync(s);
  for (auto _ : state) {
#ifdef SSMLAB_WITH_CUDA
    if (s.device.is_cuda()) {
      at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
      auto stream = c10::cuda::getCurrentCUDAStream();
      start.record(stream);
      run_once(x, impl, backward);
      stop.record(stream);
      stop.synchronize();
      state.SetIterationTime(start.elapsed_time(stop) * 1e-3);
      continue;
    }
#endif
    const auto t0 = std::chrono::steady_clock::now();
    run_once(x, impl, backward);
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double bytes = min_bytes(s, backward);
  state.SetBytesProcessed(static_cast<int64_t>(bytes * state.iterations()));
  if (s.device.is_cuda())
    state.counters["hbm_frac"] =
        benchmark::Counter(bytes / kHbmBytesPerSecond, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens_per_s"] =
      benchmark::Counter(double(s.Bt) * s.L, benchmark::Counter::kIsIterationInvariantRate);
}

std::string bench_name(const Shape& s, KernelImpl impl, bool backward) {
  return std::string("BM_scan/") + to_string(impl) + "/" + (backward ? "fwdbwd" : "fwd") + "/B:" +
         std::to_string(s.Bt) + "/D:" + std::to_string(s.D) + "/L:" + std::to_string(s.L) + "/N:" +
         std::to_string(s.N) + "/" + dtype_name(s.dtype);
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  auto args = ssmlab::bench::parse_bench_args(
      argc, argv,
      "bench_scan [--quick] [--threads N] [google benchmark flags]\n"
      "  selective scan: reference vs fused CPU (B=4 D=256 L=512 N=16 fp32) and, without --quick on a CUDA\n"
      "  build with a GPU, vs CUDA (B=8 D=1536 L=2048 N=16, fp32/bf16). Ends with a ratio table.\n");
  ssmlab::init_runtime(args.threads);  // threads, heap reuse (ssmlab/runtime.h)
  const bool quick = args.quick;
  at::set_num_threads(args.threads);

  std::vector<ssmlab::bench::RatioPair> pairs;
  const Shape cpu{4, 256, 512, 16, torch::kFloat32, torch::kCPU};
  for (bool bwd : {false, true}) {
    auto* ref = benchmark::RegisterBenchmark(bench_name(cpu, KernelImpl::Reference, bwd).c_str(), BM_scan, cpu,
                                             KernelImpl::Reference, bwd);
    auto* fused = benchmark::RegisterBenchmark(bench_name(cpu, KernelImpl::CpuFused, bwd).c_str(), BM_scan, cpu,
                                               KernelImpl::CpuFused, bwd);
    for (auto* b : {ref, fused}) b->UseManualTime()->Unit(benchmark::kMillisecond);
    if (quick) {
      ref->Iterations(bwd ? 1 : 3);  // the reference's fwd+bwd takes tens of seconds here
      fused->Iterations(bwd ? 20 : 30);
    }
    pairs.push_back({std::string("cpu_fused_speedup_") + (bwd ? "fwdbwd" : "fwd"),
                     bench_name(cpu, KernelImpl::Reference, bwd), bench_name(cpu, KernelImpl::CpuFused, bwd)});
  }
#ifdef SSMLAB_WITH_CUDA
  if (!quick && torch::cuda::is_available() && cuda_scan_built()) {
    for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
      const Shape gpu{8, 1536, 2048, 16, dt, torch::kCUDA};
      for (bool bwd : {false, true}) {
        auto* ref = benchmark::RegisterBenchmark(bench_name(gpu, KernelImpl::Reference, bwd).c_str(), BM_scan, gpu,
                                                 KernelImpl::Reference, bwd);
        auto* cu = benchmark::RegisterBenchmark(bench_name(gpu, KernelImpl::Cuda, bwd).c_str(), BM_scan, gpu,
                                                KernelImpl::Cuda, bwd);
        ref->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);
        cu->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.5);
        pairs.push_back({std::string("cuda_speedup_") + (bwd ? "fwdbwd_" : "fwd_") + dtype_name(dt),
                         bench_name(gpu, KernelImpl::Reference, bwd), bench_name(gpu, KernelImpl::Cuda, bwd)});
      }
      // d_state above 16: one launch per slice of 16 states (the synthetic paper Mamba has N = 32)
      for (int64_t N : {32, 64}) {
        const Shape big{8, 1536, 2048, N, dt, torch::kCUDA};
        for (bool bwd : {false, true})
          benchmark::RegisterBenchmark(bench_name(big, KernelImpl::Cuda, bwd).c_str(), BM_scan, big, KernelImpl::Cuda, bwd)
              ->UseManualTime()
              ->Unit(benchmark::kMillisecond)
              ->MinTime(0.5);
      }
    }
  }
#endif
  const auto ratios = ssmlab::bench::run_with_ratio_table(args, pairs);
  if (ratios.count("cpu_fused_speedup_fwdbwd")) std::printf("cpu_fused_speedup_fwdbwd: %.2f\n", ratios.at("cpu_fused_speedup_fwdbwd"));
  return 0;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
