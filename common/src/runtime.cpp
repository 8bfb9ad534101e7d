// runtime.cpp — process-wide start-up settings (see runtime.h).
#include "ssmlab/runtime.h"

#include "ssmlab/progress_meter.h"

#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace ssmlab {

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void apply_threads(int threads) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

void keep_freed_memory_for_reuse() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest glibc accepts on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);   // return the heap's free top to the OS only beyond 1 GB
#endif
}

void init_runtime(int threads, bool quiet) {
  apply_threads(threads);
  keep_freed_memory_for_reuse();
  set_progress_quiet(quiet);
}

void init_runtime(const CommonOptions& opts) { init_runtime(opts.threads, opts.quiet); }

}  // namespace ssmlab
