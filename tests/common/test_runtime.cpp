// test_runtime.cpp — Cli::parse reads flags and changes nothing in the process; init_runtime
// (ssmlab/runtime.h) applies --threads and --quiet, and a second call changes nothing more.
#include <gtest/gtest.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ssmlab/cli.h"
#include "ssmlab/progress_meter.h"
#include "ssmlab/runtime.h"

namespace {
ssmlab::CommonOptions parse(std::vector<std::string> args) {
  ssmlab::Cli cli("demo", "A demo binary.", "testfam");
  std::vector<const char*> argv{"demo"};
  for (auto& s : args) argv.push_back(s.c_str());
  return cli.parse(static_cast<int>(argv.size()), argv.data());
}
}  // namespace

TEST(Runtime, ParseAloneChangesNothingInitRuntimeDoes) {
  ssmlab::set_progress_quiet(false);
#ifdef _OPENMP
  omp_set_num_threads(1);
  const int other = 3;  // any count but the current one (<= max_threads even on a 1-core machine)
  const auto o = parse({"--threads", std::to_string(other), "--quiet"});
  EXPECT_EQ(o.threads, other);
  EXPECT_EQ(omp_get_max_threads(), 1) << "Cli::parse changed the OpenMP thread count";
  EXPECT_FALSE(ssmlab::progress_quiet()) << "Cli::parse silenced the progress meters";
  ssmlab::init_runtime(o);
  EXPECT_EQ(omp_get_max_threads(), other);
  EXPECT_TRUE(ssmlab::progress_quiet());
  ssmlab::init_runtime(o);  // idempotent
  EXPECT_EQ(omp_get_max_threads(), other);
  EXPECT_TRUE(ssmlab::progress_quiet());
  ssmlab::init_runtime(1);  // the overload for binaries without Cli (bench/)
  EXPECT_EQ(omp_get_max_threads(), 1);
  EXPECT_FALSE(ssmlab::progress_quiet());
#else
  const auto o = parse({"--quiet"});
  EXPECT_FALSE(ssmlab::progress_quiet()) << "Cli::parse silenced the progress meters";
  ssmlab::init_runtime(o);
  EXPECT_TRUE(ssmlab::progress_quiet());
  GTEST_SKIP() << "no OpenMP in this build: only --quiet is checked";
#endif
  ssmlab::set_progress_quiet(false);
}
