#include "ssmlab/timer.h"

#include <stdexcept>

namespace ssmlab {

namespace {
void summarize_into(Timing& t) {
  const auto s = stats::summarize(t.samples_s);
  t.min_s = s.min;
  t.median_s = s.median;
  t.mean_s = s.mean;
  t.ci95_s = s.ci95;
}
}  // namespace

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
  summarize_into(t);
  return t;
}

Timing time_per_call(const std::function<void()>& fn, double min_sample_s, int warmups, int repeats) {
  fn();
  int inner = 1;
  for (;;) {
    Stopwatch sw;
    for (int i = 0; i < inner; ++i) fn();
    if (sw.seconds() >= min_sample_s || inner >= (1 << 24)) break;
    inner *= 2;
  }
  Timing t = time_repeated([&] { for (int i = 0; i < inner; ++i) fn(); }, warmups, repeats);
  for (auto& s : t.samples_s) s /= inner;
  summarize_into(t);
  return t;
}

}  // namespace ssmlab
