// Bad input to the duality binaries: a clear one-line error on stderr and exit status 2.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {
struct Run {
  int code;
  std::string err;
};
// Runs BIN_DIR/<binary> <args> with stdout discarded; returns the exit status and stderr.
Run run(const std::string& binary, const std::string& args) {
  namespace fs = std::filesystem;
  fs::path err = fs::temp_directory_path() / ("ssmlab_duality_cli_" + std::to_string(::getpid()) + ".err");
  std::string cmd = std::string(SSMLAB_BIN_DIR) + "/" + binary + " " + args + " --log none --out " +
                    (fs::temp_directory_path() / "ssmlab_duality_cli_out").string() + " >/dev/null 2>" + err.string();
  int st = std::system(cmd.c_str());
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  fs::remove(err);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, ss.str()};
}
}  // namespace

TEST(DualityCli, TZeroIsRejected) {
  auto r = run("exp1_scalar_equivalence", "--T 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: --T must be >= 1 (got 0)"), std::string::npos) << r.err;
}

TEST(DualityCli, NanDecayIsRejected) {
  auto r = run("exp1_scalar_equivalence", "--a nan");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: --a must be finite"), std::string::npos) << r.err;
}

TEST(DualityCli, EmptyDecaysIsRejected) {
  auto r = run("exp2_diagonal_equivalence", "--decays");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("decays"), std::string::npos) << r.err;
}

TEST(DualityCli, DecayOutsideUnitIntervalIsRejected) {
  auto r = run("exp2_diagonal_equivalence", "--decays 0.5 1.5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: --decays values must all be <= 1"), std::string::npos) << r.err;
}

TEST(DualityCli, UnsortedTValuesAreRejected) {
  for (std::string bin : {"exp3_rank_vs_state_dim", "exp4_time_scaling", "exp5_softmax_rank_growth", "exp6_chunked_ssd"}) {
    auto r = run(bin, "--T-values 30 15");
    EXPECT_EQ(r.code, 2) << bin;
    EXPECT_NE(r.err.find("error: --T-values values must be strictly increasing (got 30 then 15)"), std::string::npos)
        << bin << ": " << r.err;
  }
}

TEST(DualityCli, NegativeTValuesAreRejected) {
  for (std::string bin : {"exp3_rank_vs_state_dim", "exp4_time_scaling", "exp5_softmax_rank_growth"}) {
    auto r = run(bin, "--T-values -5 10");
    EXPECT_EQ(r.code, 2) << bin;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << bin << ": " << r.err;
    EXPECT_NE(r.err.find("T-values"), std::string::npos) << bin << ": " << r.err;
  }
}

TEST(DualityCli, CrossFlagErrorsExitTwo) {
  auto r = run("exp3b_rank_vs_state_dim", "--N-values 4 8 --T 10");  // T < 2 max N
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("error: --T must be >= 2 max(N)", 0), 0u) << r.err;
  r = run("exp1_scalar_equivalence", "--a 5 --T 2000");  // |a|^T overflows
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("error: --a", 0), 0u) << r.err;
  r = run("run_and_log", "--experiment exp9");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: --experiment must be one of"), std::string::npos) << r.err;
}

TEST(DualityCli, HelpExitsZeroEverywhere) {
  for (std::string bin : {"exp1_scalar_equivalence", "exp2_diagonal_equivalence", "exp2b_timevarying_diagonal",
                          "exp3_rank_vs_state_dim", "exp3b_rank_vs_state_dim", "exp4_time_scaling",
                          "exp4b_time_scaling_errorbars", "exp5_softmax_rank_growth", "exp5b_softmax_rank_growth",
                          "exp6_chunked_ssd", "verify_ssd", "run_and_log"}) {
    auto r = run(bin, "--help");
    EXPECT_EQ(r.code, 0) << bin << ": " << r.err;
  }
}

TEST(DualityCli, GoodRunExitsZero) {
  EXPECT_EQ(run("exp1_scalar_equivalence", "--T 32 --a 0.9 --seed 1").code, 0);
  EXPECT_EQ(run("exp2b_timevarying_diagonal", "--T 16 --N 4 --mode selective").code, 0);
}

// ---- issue 15: exit codes and output paths ----
namespace {
// Like run(), without the appended --log/--out: the command line is used as given.
Run run_raw(const std::string& binary, const std::string& args) {
  namespace fs = std::filesystem;
  fs::path err = fs::temp_directory_path() / ("ssmlab_duality_cli_raw_" + std::to_string(::getpid()) + ".err");
  std::string cmd = "timeout -s KILL 60 " + std::string(SSMLAB_BIN_DIR) + "/" + binary + " " + args + " >/dev/null 2>" + err.string();
  int st = std::system(cmd.c_str());
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  fs::remove(err);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, ss.str()};
}
}  // namespace

TEST(DualityCli, OutputPathsAreRefusedBeforeAnyWork) {
  namespace fs = std::filesystem;
  const std::string tmp = fs::temp_directory_path().string();
  // --plot DIR: refused (a plot is one file), not PNG bytes on stdout and a stray DIR.gp
  auto r = run_raw("exp5_softmax_rank_growth", "--log none --plot " + tmp);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--plot '" + tmp + "' is a directory"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp + ".gp"));
  r = run_raw("exp1_scalar_equivalence", "--log /proc/x.jsonl");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("error: --log '/proc/x.jsonl'"), std::string::npos) << r.err;
  r = run_raw("exp4_time_scaling", "--log none --plot /proc/xx/p.png");
  EXPECT_EQ(r.code, 2) << r.err;
  r = run_raw("exp3_rank_vs_state_dim", "--out /proc/xx");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--out '/proc/xx'"), std::string::npos) << r.err;
}

TEST(DualityCli, UnboundedValuesAreRefused) {
  // hung before: each sample looped for 1e300 s
  auto r = run("exp4_time_scaling", "--min-sample-s 1e300");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--min-sample-s must be <= 10"), std::string::npos) << r.err;
  r = run("exp1_scalar_equivalence", "--seed -1");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--seed must be >= 0 (got -1)"), std::string::npos) << r.err;
  r = run("exp1_scalar_equivalence", "--threads 5000");
  EXPECT_EQ(r.code, 2) << r.err;
}

TEST(DualityCli, BenchDualityBadFlagIsExit2) {
  namespace fs = std::filesystem;
  if (!fs::exists(std::string(SSMLAB_BIN_DIR) + "/bench_duality")) GTEST_SKIP() << "bench_duality not built";
  auto r = run_raw("bench_duality", "--no-such-flag");
  EXPECT_EQ(r.code, 2) << r.err;
  r = run_raw("bench_duality", "--benchmark_out=/proc/x.json");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("/proc/x.json"), std::string::npos) << r.err;
}
