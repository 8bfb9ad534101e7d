// timer.h — wall-clock timing with warm-ups and repeats.
// Design: steady_clock, a callable timed `repeats` times after `warmups` untimed calls;
// the result keeps every sample so callers can log or re-summarise them.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "ssmlab/stats.h"

namespace ssmlab {

class Stopwatch {
 public:
  Stopwatch() : t0_(std::chrono::steady_clock::now()) {}
  void reset() { t0_ = std::chrono::steady_clock::now(); }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  std::chrono::steady_clock::time_point t0_;
};

struct Timing {
  std::vector<double> samples_s;
  double min_s = 0, median_s = 0, mean_s = 0, ci95_s = 0;
};

Timing time_repeated(const std::function<void()>& fn, int warmups, int repeats);

// Seconds per call of fn, for calls too short for the clock: one untimed call, then the number of
// calls per sample is doubled until a sample lasts >= min_sample_s; every sample is divided by it.
Timing time_per_call(const std::function<void()>& fn, double min_sample_s, int warmups, int repeats);

// Keeps the optimiser from deleting a computation whose result is unused.
template <class T>
inline void do_not_optimize(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

}  // namespace ssmlab
