// bench_ssd: Mamba-2's SSD, chunked (intra-chunk quadratic form as batched GEMMs + inter-chunk state
// passing, kernels/ssd.h ssd_chunked) against its sequential reference twin (ssd_sequential), forward
// and forward+backward, on the CPU and, when present, the GPU. Both are LibTorch tensor code: on CUDA
// the chunked form is cuBLAS batched GEMMs, which is the "via batched GEMMs" option.
//
//   bench_ssd [--threads N] [google benchmark flags]
// Names: BM_ssd/<sequential|chunked>/<fwd|fwdbwd>/B:/L:/H:/P:/N:/Q:/<device>. Ends with a ratio table
// (bench_common.h).
#include "ssmlab/main_guard.h"
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "kernels/ssd.h"
#include "models/torch_util.h"

namespace {

struct Shape {
  int64_t B, L, H, P, N, Q;
  torch::Device device;
};

struct Inputs {
  torch::Tensor x, dt, A, Bm, Cm, dy;
};

Inputs make(const Shape& s, bool grad) {
  torch::manual_seed(0);
  auto o = torch::TensorOptions().device(s.device).dtype(torch::kFloat32);
  Inputs in;
  in.x = torch::randn({s.B, s.L, s.H, s.P}, o);                             // (B, L, H, P)
  in.dt = torch::nn::functional::softplus(torch::randn({s.B, s.L, s.H}, o) - 3);  // (B, L, H) > 0
  in.A = -torch::rand({s.H}, o) - 0.5;                                       // (H) < 0
  in.Bm = torch::randn({s.B, s.L, 1, s.N}, o);                               // (B, L, G=1, N)
  in.Cm = torch::randn({s.B, s.L, 1, s.N}, o);
  in.dy = torch::randn({s.B, s.L, s.H, s.P}, o);
  if (grad)
    for (auto* t : {&in.x, &in.dt, &in.Bm, &in.Cm}) t->set_requires_grad(true);
  return in;
}

void sync(const Shape& s) {
  if (s.device.is_cuda()) torch::cuda::synchronize();
}

void run_once(Inputs& in, const Shape& s, bool chunked, bool backward) {
  auto f = [&] {
    return chunked ? ssmlab::kernels::ssd_chunked(in.x, in.dt, in.A, in.Bm, in.Cm, s.Q)
                   : ssmlab::kernels::ssd_sequential(in.x, in.dt, in.A, in.Bm, in.Cm);
  };
  if (!backward) {
    torch::NoGradGuard ng;
    benchmark::DoNotOptimize(f().data_ptr());
    return;
  }
  for (auto* t : {&in.x, &in.dt, &in.Bm, &in.Cm}) t->mutable_grad() = torch::Tensor();
  f().backward(in.dy);
  benchmark::DoNotOptimize(in.x.grad().data_ptr());
}

void BM_ssd(benchmark::State& state, Shape s, bool chunked, bool backward) {
  Inputs in = make(s, backward);
  run_once(in, s, chunked, backward);  // warm-up
  sync(s);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run_once(in, s, chunked, backward);
    sync(s);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
  }
  state.counters["tokens_per_s"] = benchmark::Counter(double(s.B) * s.L, benchmark::Counter::kIsIterationInvariantRate);
}

std::string name(const Shape& s, bool chunked, bool backward) {
  return std::string("BM_ssd/") + (chunked ? "chunked" : "sequential") + "/" + (backward ? "fwdbwd" : "fwd") +
         "/B:" + std::to_string(s.B) + "/L:" + std::to_string(s.L) + "/H:" + std::to_string(s.H) +
         "/P:" + std::to_string(s.P) + "/N:" + std::to_string(s.N) + "/Q:" + std::to_string(s.Q) + "/" +
         (s.device.is_cuda() ? "cuda" : "cpu");
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  auto args = ssmlab::bench::parse_bench_args(
      argc, argv,
      "bench_ssd [--threads N] [google benchmark flags]\n"
      "  Mamba-2 SSD: chunked vs sequential, fwd and fwd+bwd, CPU (B=2 L=512 H=8 P=32 N=16 Q=64)\n"
      "  and CUDA when available (B=4 L=2048 H=24 P=64 N=64 Q=256). Ends with a ratio table.\n");
  ssmlab::init_runtime(args.threads);  // threads, heap reuse (ssmlab/runtime.h)
  ssmlab::models::torch_set_threads(args.threads);
  std::vector<Shape> shapes = {{2, 512, 8, 32, 16, 64, torch::Device(torch::kCPU)}};
  if (torch::cuda::is_available()) shapes.push_back({4, 2048, 24, 64, 64, 256, torch::Device(torch::kCUDA)});
  std::vector<ssmlab::bench::RatioPair> pairs;
  for (const auto& s : shapes)
    for (bool bwd : {false, true}) {
      const auto seq = name(s, false, bwd), chk = name(s, true, bwd);
      benchmark::RegisterBenchmark(seq.c_str(), BM_ssd, s, false, bwd)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(s.device.is_cuda() ? 2 : 3);
      benchmark::RegisterBenchmark(chk.c_str(), BM_ssd, s, true, bwd)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.5);
      pairs.push_back({std::string("chunked_speedup_") + (bwd ? "fwdbwd_" : "fwd_") + (s.device.is_cuda() ? "cuda" : "cpu"), seq, chk});
    }
  ssmlab::bench::run_with_ratio_table(args, pairs);
  return 0;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
