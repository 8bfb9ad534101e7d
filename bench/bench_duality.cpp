// bench_duality — recurrence vs explicit T×T kernel vs chunked SSD, over T and N (Google Benchmark).
//
//   BM_Recurrence          time-invariant diagonal SSM, O(T·N), one streaming loop
//   BM_KernelMultiply      y = M x with the T×T kernel already built, O(T²)
//   BM_KernelEndToEnd      build M (no pow) + multiply, O(T²)
//   BM_TvRecurrence        time-varying (selective) recurrence, O(T·N)
//   BM_TvKernelEndToEnd    build the time-varying kernel (∏ A_k) + multiply, O(T²·N)
//   BM_ChunkedSsd          chunked SSD, Q = 64, O(T·Q·N)
// items_per_second counts sequence steps (T per iteration).
// Crossover reported in docs/duality.md: the smallest T at which BM_Recurrence beats BM_KernelMultiply.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "duality/recurrence.h"
#include "duality/ssd.h"
#include "ssmlab/main_guard.h"
#include "ssmlab/runtime.h"

namespace d = ssmlab::duality;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {
struct Lti {
  VectorXd a, B, C, x, y, h, k, p;
  MatrixXd M;
  Lti(int N, int T) : a(VectorXd::LinSpaced(N, 0.5, 0.99)), B(VectorXd::Random(N)), C(VectorXd::Random(N)),
                      x(VectorXd::Random(T)), y(T), h(N), k(T), p(N), M(T, T) {
    d::diagonal_kernel(a, B, C, M, k, p);
  }
};
struct Tv {
  MatrixXd A, B, C;
  VectorXd x, y, h, v;
  MatrixXd M;
  d::ChunkWorkspace w;
  Tv(int N, int T, bool kernel) : A(N, T), B(MatrixXd::Random(N, T)), C(MatrixXd::Random(N, T)), x(VectorXd::Random(T)),
                                  y(T), h(N), v(N), M(kernel ? T : 0, kernel ? T : 0) {
    A = (0.5 * (MatrixXd::Random(N, T).array() + 1.0)).exp().inverse().matrix();  // decays in (0.37, 1)
  }
};

void Args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "N"});
  for (int N : {1, 4, 16, 64})
    for (int T : {4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048}) b->Args({T, N});
}
void TvArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "N"});
  for (int N : {4, 16})
    for (int T : {64, 256, 1024, 4096}) b->Args({T, N});
}
}  // namespace

static void BM_Recurrence(benchmark::State& st) {
  Lti s(st.range(1), st.range(0));
  for (auto _ : st) {
    d::diagonal_recurrence(s.a, s.B, s.C, s.x, s.y, s.h);
    benchmark::DoNotOptimize(s.y.data());
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_Recurrence)->Apply(Args);

static void BM_KernelMultiply(benchmark::State& st) {
  Lti s(st.range(1), st.range(0));
  for (auto _ : st) {
    s.y.noalias() = s.M * s.x;
    benchmark::DoNotOptimize(s.y.data());
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_KernelMultiply)->Apply(Args);

static void BM_KernelEndToEnd(benchmark::State& st) {
  Lti s(st.range(1), st.range(0));
  for (auto _ : st) {
    d::diagonal_kernel(s.a, s.B, s.C, s.M, s.k, s.p);
    s.y.noalias() = s.M * s.x;
    benchmark::DoNotOptimize(s.y.data());
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_KernelEndToEnd)->Apply(Args);

static void BM_TvRecurrence(benchmark::State& st) {
  Tv s(st.range(1), st.range(0), false);
  for (auto _ : st) {
    d::timevarying_recurrence(s.A, s.B, s.C, s.x, s.y, s.h);
    benchmark::DoNotOptimize(s.y.data());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_TvRecurrence)->Apply(TvArgs);

static void BM_TvKernelEndToEnd(benchmark::State& st) {
  Tv s(st.range(1), st.range(0), true);
  for (auto _ : st) {
    d::timevarying_kernel(s.A, s.B, s.C, s.M, s.v);
    s.y.noalias() = s.M * s.x;
    benchmark::DoNotOptimize(s.y.data());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_TvKernelEndToEnd)->Apply(TvArgs);

static void BM_ChunkedSsd(benchmark::State& st) {
  Tv s(st.range(1), st.range(0), false);
  for (auto _ : st) {
    d::ssd_chunked(s.A, s.B, s.C, s.x, 64, s.y, s.w);
    benchmark::DoNotOptimize(s.y.data());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_ChunkedSsd)->Apply(TvArgs);

// Not BENCHMARK_MAIN(): an unknown flag is a usage error (exit 2, as in every ssmlab binary, where
// Google Benchmark's own main exits 1), and --benchmark_out names a file checked before any work.
static int ssmlab_main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--benchmark_out=", 0) == 0) ssmlab::check_output_file("benchmark_out", a.substr(16));
  }
  ssmlab::init_runtime(ssmlab::hardware_threads());  // every core (no --threads here), heap reuse (ssmlab/runtime.h)
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
