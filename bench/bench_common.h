// bench_common.h — what every Google Benchmark binary in bench/ shares: our own flags
// (--threads N, --quick, --help) taken out of argv before Google Benchmark sees the rest, and a
// reporter that keeps each case's mean time so that speedups come from one process.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ssmlab/cli.h"
#include "ssmlab/main_guard.h"
#include "ssmlab/runtime.h"

namespace ssmlab::bench {

struct BenchArgs {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));  // default: all cores
  bool quick = false;
  std::vector<char*> rest;  // argv for benchmark::Initialize
};

// Parses --threads N / --threads=N / --quick; --help prints `usage` and exits 0; --threads < 1
// exits 2 with a one-line error. Everything else is left for Google Benchmark. Like Cli::parse it
// changes nothing in the process: main calls ssmlab::init_runtime(args.threads) (ssmlab/runtime.h).
inline BenchArgs parse_bench_args(int argc, char** argv, const char* usage) {
  BenchArgs a;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      a.quick = true;
    } else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      a.threads = std::atoi(argv[++i]);
    } else if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      a.threads = std::atoi(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--benchmark_out=", 16) == 0) {
      try {  // the report file is checked before any benchmark runs (exit 2, naming the file)
        check_output_file("benchmark_out", argv[i] + 16);
      } catch (const UsageError& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        std::exit(2);
      }
      a.rest.push_back(argv[i]);
    } else if (std::strcmp(argv[i], "--help") == 0) {
      std::printf("%s", usage);
      std::exit(0);
    } else {
      a.rest.push_back(argv[i]);
    }
  }
  if (a.threads < 1 || a.threads > max_threads()) {
    std::fprintf(stderr, "error: --threads must be >= 1 and <= %d (4 x the hardware threads) (got %d)\n", max_threads(),
                 a.threads);
    std::exit(2);
  }
  return a;
}

// "BM_scan/.../fp32/iterations:3/manual_time" → "BM_scan/.../fp32"
inline std::string base_name(std::string n) {
  for (const char* tag : {"/iterations:", "/min_time:", "/manual_time", "/real_time", "/repeats:"}) {
    const auto pos = n.find(tag);
    if (pos != std::string::npos) n.resize(pos);
  }
  return n;
}

// Console output as usual, plus each case's mean real time (in the case's unit: we use ms). With
// --benchmark_repetitions the "mean" aggregate (reported after the repetitions) is the one kept.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> ms;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      const bool mean = r.run_type == Run::RT_Aggregate && r.aggregate_name == "mean";
      if ((r.run_type == Run::RT_Iteration || mean) && !r.error_occurred)
        ms[base_name(r.run_name.str())] = r.GetAdjustedRealTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

struct RatioPair {
  std::string label, slow, fast;  // slow / fast are base names of registered benchmarks
};

// Prints "pair slow_ms fast_ms ratio" for every pair that ran; returns label -> ratio.
inline std::map<std::string, double> print_ratio_table(const RatioReporter& rep, const std::vector<RatioPair>& pairs,
                                                       int threads) {
  std::map<std::string, double> ratios;
  std::printf("\nratio table (one run, %d thread(s); times are means in ms)\n", threads);
  std::printf("%-34s %12s %12s %10s\n", "pair", "slow_ms", "fast_ms", "ratio");
  for (const auto& p : pairs) {
    auto a = rep.ms.find(p.slow), b = rep.ms.find(p.fast);
    if (a == rep.ms.end() || b == rep.ms.end()) continue;
    ratios[p.label] = a->second / b->second;
    std::printf("%-34s %12.3f %12.3f %10.2f\n", p.label.c_str(), a->second, b->second, ratios[p.label]);
  }
  return ratios;
}

// Hands the remaining flags to Google Benchmark (an unknown one exits 2), runs every registered
// benchmark, then prints the ratio table; returns label -> ratio.
inline std::map<std::string, double> run_with_ratio_table(BenchArgs& args, const std::vector<RatioPair>& pairs) {
  int nargs = static_cast<int>(args.rest.size());
  benchmark::Initialize(&nargs, args.rest.data());
  if (benchmark::ReportUnrecognizedArguments(nargs, args.rest.data())) std::exit(2);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  return print_ratio_table(reporter, pairs, args.threads);
}

}  // namespace ssmlab::bench
