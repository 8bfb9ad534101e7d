#include "ssmlab/timer.h"

#include <stdexcept>

namespace ssmlab {

Timing time_repeated(const std::function<void()>& fn, int warmups, int repeats) {
  if (repeats < 1) throw std::invalid_argument("time_repeated: repeats must be >= 1");
  for (int i = 0; i < warmups; ++i) fn();
  Timing t;
  t.samples_s.reserve(repeats);
  for (int i = 0; i < repeats; ++i) {
    Stopwatch sw;
    fn();
    t.samples_s.push_back(sw.seconds());
  }
  auto s = stats::summarize(t.samples_s);
  t.min_s = s.min;
  t.median_s = s.median;
  t.mean_s = s.mean;
  t.ci95_s = s.ci95;
  return t;
}

}  // namespace ssmlab
