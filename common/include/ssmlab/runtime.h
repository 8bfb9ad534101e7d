// runtime.h — the process-wide settings a binary makes once, at start-up, after parsing its flags:
// CPU threads, the heap's reuse of freed blocks, and the --quiet switch of the progress meters.
//
//   auto opts = cli.parse_or_exit(argc, argv);
//   ssmlab::init_runtime(opts);                  // LibTorch binaries also: models::torch_set_threads(opts)
//
// Design: Cli::parse only reads flags; it changes nothing in the process (a test parses many
// command lines in one process). Every main says in one visible line that it takes these settings.
// init_runtime is idempotent: a second call with the same options changes nothing, so a helper
// may call it again without harm.
#pragma once

#include "ssmlab/cli.h"

namespace ssmlab {

// Applies opts.threads (--threads, resolved: all cores for 0) to OpenMP/Eigen, keeps freed memory
// for reuse (below) and silences progress meters on --quiet (progress_meter.h).
void init_runtime(const CommonOptions& opts);
// The same for binaries without Cli (bench/'s Google Benchmark mains): threads >= 1.
void init_runtime(int threads, bool quiet = false);

// Applies a thread count to OpenMP/Eigen (part of init_runtime).
void apply_threads(int threads);
// Keeps freed blocks of up to 32 MB in the heap for the next allocation (glibc mallopt; a no-op
// elsewhere; part of init_runtime). By default glibc maps blocks of 128 KB and more afresh and
// unmaps them when freed, so every new tensor or matrix of that size page-faults on first touch: on
// the 2-core VM, perf put ~20 % of a fused CPU scan call in exc_page_fault, and with this setting
// bench_scan --quick's fused forward went from 15-22 ms to 5-6 ms.
void keep_freed_memory_for_reuse();
// std::thread::hardware_concurrency(), at least 1.
int hardware_threads();

}  // namespace ssmlab
