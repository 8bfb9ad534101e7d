// progress_meter.cpp — see progress_meter.h.
#include "ssmlab/progress_meter.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace ssmlab {

namespace {
std::atomic<bool> g_quiet{false};
}

void set_progress_quiet(bool quiet) { g_quiet = quiet; }
bool progress_quiet() { return g_quiet; }

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) % 3600) / 60);
  return buf;
}

void ProgressMeter::update(double done_units, const std::string& step, const std::string& detail) {
  if (g_quiet) return;
  const double t = clock_.seconds();
  const bool have_eta = done_units > 0 && total_ > done_units;
  const double eta = have_eta ? t * (total_ - done_units) / done_units : 0.0;
  // Quiet at first, unless the estimate already says the run will be long (one large last step
  // would otherwise pass without a line: exp5's T = 320 is 85 % of its work).
  const bool long_run = have_eta && t + eta >= 2 * quiet_s_;
  if ((t < quiet_s_ && !long_run) || (last_print_ >= 0 && t - last_print_ < every_s_)) return;
  last_print_ = t;
  std::string line = "[" + label_ + "] " + step;
  if (!detail.empty()) line += " (" + detail + ")";
  line += ", " + format_duration(t);
  if (have_eta) line += ", ETA " + format_duration(eta);
  std::cerr << line << std::endl;
}

}  // namespace ssmlab
