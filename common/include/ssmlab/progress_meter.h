// progress_meter.h — "still working" lines with an ETA, on stderr, for loops that run longer than a
// few seconds (the trainer has its own per-step line). Silent for the first `quiet_s` seconds (a
// fast run prints nothing) unless the ETA already says the run will last 2 x quiet_s, then at most
// one line every `every_s` seconds:
//
//   [exp5_softmax_rank_growth] 3/6 (T=256), 4.1 s, ETA 5.2 s
//
// The ETA extrapolates the work units done so far: give each step a weight proportional to its
// cost (T^3 for an SVD sweep) so that the estimate holds when steps grow. --quiet (init_runtime calls
// set_progress_quiet, ssmlab/runtime.h) silences every meter of the process; library code needs no options object.
#pragma once

#include <string>

#include "ssmlab/timer.h"

namespace ssmlab {

void set_progress_quiet(bool quiet);
bool progress_quiet();
// "4.1 s", "3m05s", "1h02m"
std::string format_duration(double seconds);

class ProgressMeter {
 public:
  ProgressMeter(std::string label, double total_units, double quiet_s = 3.0, double every_s = 3.0)
      : label_(std::move(label)), total_(total_units), quiet_s_(quiet_s), every_s_(every_s) {}
  // `done_units` of the total are finished; `step` ("3/6") and `detail` ("T=256") label the line.
  void update(double done_units, const std::string& step, const std::string& detail = "");

 private:
  std::string label_;
  double total_, quiet_s_, every_s_;
  double last_print_ = -1.0;
  Stopwatch clock_;
};

}  // namespace ssmlab
