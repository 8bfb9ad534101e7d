// bench_ssd: Mamba-2's SSD, chunked (intra-chunk quadratic form as batched GEMMs + inter-chunk state
// passing, models/mamba2.h ssd_chunked) against its sequential reference twin (ssd_sequential), forward
// and forward+backward, on the CPU and, when present, the GPU. Both are LibTorch tensor code: on CUDA
// the chunked form is cuBLAS batched GEMMs, which is the "via batched GEMMs" option.
//
//   bench_ssd [--threads N] [google benchmark flags]
// Names: BM_ssd/<sequential|chunked>/<fwd|fwdbwd>/B:/L:/H:/P:/N:/Q:/<device>. Ends with a ratio table.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "models/mamba2.h"

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
    return chunked ? ssmlab::models::ssd_chunked(in.x, in.dt, in.A, in.Bm, in.Cm, s.Q)
                   : ssmlab::models::ssd_sequential(in.x, in.dt, in.A, in.Bm, in.Cm);
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

std::map<std::string, double> g_mean_ms;  // name -> mean ms, for the ratio table

void BM_ssd(benchmark::State& state, Shape s, bool chunked, bool backward, std::string key) {
  Inputs in = make(s, backward);
  run_once(in, s, chunked, backward);  // warm-up
  sync(s);
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run_once(in, s, chunked, backward);
    sync(s);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    total += dt;
  }
  g_mean_ms[key] = 1e3 * total / double(state.iterations());
  state.counters["tokens_per_s"] = benchmark::Counter(double(s.B) * s.L, benchmark::Counter::kIsIterationInvariantRate);
}

std::string name(const Shape& s, bool chunked, bool backward) {
  return std::string("BM_ssd/") + (chunked ? "chunked" : "sequential") + "/" + (backward ? "fwdbwd" : "fwd") +
         "/B:" + std::to_string(s.B) + "/L:" + std::to_string(s.L) + "/H:" + std::to_string(s.H) +
         "/P:" + std::to_string(s.P) + "/N:" + std::to_string(s.N) + "/Q:" + std::to_string(s.Q) + "/" +
         (s.device.is_cuda() ? "cuda" : "cpu");
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  for (int i = 1; i < argc; ++i) {  // --threads N is ours; the rest goes to Google Benchmark
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::atoi(argv[i + 1]);
      for (int j = i; j + 2 <= argc; ++j) argv[j] = argv[j + 2];
      argc -= 2;
      --i;
    } else if (std::strcmp(argv[i], "--help") == 0) {
      std::printf("bench_ssd [--threads N] [--benchmark_filter=REGEX ...]\n"
                  "  Mamba-2 SSD: chunked vs sequential, fwd and fwd+bwd, CPU (B=2 L=512 H=8 P=32 N=16 Q=64)\n"
                  "  and CUDA when available (B=4 L=2048 H=24 P=64 N=64 Q=256). Prints a ratio table.\n");
      return 0;
    }
  }
  at::set_num_threads(threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<Shape> shapes = {{2, 512, 8, 32, 16, 64, torch::Device(torch::kCPU)}};
  if (torch::cuda::is_available()) shapes.push_back({4, 2048, 24, 64, 64, 256, torch::Device(torch::kCUDA)});
  std::vector<std::pair<std::string, std::string>> pairs;  // (slow, fast) keys
  for (const auto& s : shapes)
    for (bool bwd : {false, true}) {
      const auto seq = name(s, false, bwd), chk = name(s, true, bwd);
      benchmark::RegisterBenchmark(seq.c_str(), BM_ssd, s, false, bwd, seq)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(s.device.is_cuda() ? 2 : 3);
      benchmark::RegisterBenchmark(chk.c_str(), BM_ssd, s, true, bwd, chk)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.5);
      pairs.emplace_back(seq, chk);
    }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::printf("\nratio table (one run, %d thread(s); means in ms)\n%-70s %10s %10s %8s\n", at::get_num_threads(), "pair",
              "seq_ms", "chunk_ms", "ratio");
  for (const auto& [slow, fast] : pairs)
    if (g_mean_ms.count(slow) && g_mean_ms.count(fast))
      std::printf("%-70s %10.3f %10.3f %8.2f\n", fast.c_str(), g_mean_ms[slow], g_mean_ms[fast], g_mean_ms[slow] / g_mean_ms[fast]);
  return 0;
}
