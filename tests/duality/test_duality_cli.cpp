// The duality binaries as commands: bad input gives a clear one-line error on stderr and exit
// status 2; every row of the table (duality/table.h) has a binary that takes its flags, and
// run_and_log writes the same records as that binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "duality/table.h"
#include "ssmlab/jsonl_log.h"

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

// ---- issue 20: one table drives the binaries, run_and_log and verify_ssd ----
namespace {
namespace d = ssmlab::duality;

// The row's flags and their defaults, as its binary's Cli reports them (bare names, no seed/threads).
nlohmann::json declared_flags(const d::Experiment& e) {
  auto c = e.make();
  ssmlab::Cli cli(e.program, e.description, "duality");
  c->add_flags(cli, "");
  const char* argv[] = {"test", "--threads", "1"};
  nlohmann::json flags = cli.parse(3, argv).params;
  flags.erase("seed");
  flags.erase("threads");
  return flags;
}

// "--name v1 v2" for each flag (a switch is given bare).
std::string as_command_line(const nlohmann::json& flags) {
  std::string out;
  for (const auto& [name, value] : flags.items()) {
    out += " --" + name;
    if (value.is_boolean()) continue;
    for (const auto& v : value.is_array() ? value : nlohmann::json::array({value}))
      out += " " + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

// A log's records without what differs from run to run (run id, time stamp, wall time).
std::vector<nlohmann::json> records(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (const auto& line : ssmlab::read_jsonl(path)) {
    nlohmann::json r = line.value;
    for (const char* k : {"run_id", "timestamp", "wall_s"}) r.erase(k);
    out.push_back(r);
  }
  return out;
}
}  // namespace

TEST(DualityTable, RowsMatchChecksJson) {
  std::ifstream in(std::string(SSMLAB_SOURCE_DIR) + "/duality/checks.json");
  const auto checks = nlohmann::json::parse(in)["experiments"];
  std::set<std::string> names, programs;
  for (const auto& e : d::experiments()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    EXPECT_TRUE(programs.insert(e.program).second) << e.program;
    ASSERT_TRUE(checks.contains(e.program)) << e.program;
    EXPECT_EQ(checks[e.program]["key_metric"], e.key_metric) << e.program;
    EXPECT_EQ(&d::find_experiment(e.name), &e);
    EXPECT_EQ(&d::find_experiment(e.program), &e);
  }
  EXPECT_EQ(programs.size(), checks.size());
  EXPECT_THROW(d::find_experiment("exp9"), std::invalid_argument);
  // duality/plots.json (the figures, drawn from the log) names table rows only, and keeps the file
  // names the binaries' --plot wrote by default before the figures moved to the spec
  std::ifstream sin(std::string(SSMLAB_SOURCE_DIR) + "/duality/plots.json");
  const auto spec = nlohmann::json::parse(sin);
  EXPECT_EQ(spec["family"], "duality");
  std::set<std::string> outputs, plotted;
  for (const auto& f : spec["figures"]) {
    EXPECT_TRUE(programs.count(f["experiment"].get<std::string>())) << f.dump();
    EXPECT_TRUE(outputs.insert(f["output"].get<std::string>()).second) << f.dump();
    plotted.insert(f["experiment"].get<std::string>());
  }
  for (const char* o : {"exp3b_rank_vs_state_dim", "exp4_time_scaling", "exp4b_time_scaling", "exp5b_rank_growth",
                        "exp5b_rank_growth_gap", "exp6_chunked_ssd"})
    EXPECT_TRUE(outputs.count(o)) << o;
  EXPECT_EQ(plotted, (std::set<std::string>{"exp3b_rank_vs_state_dim", "exp4_time_scaling", "exp4b_time_scaling_errorbars",
                                            "exp5b_softmax_rank_growth", "exp6_chunked_ssd"}));
}

// --plot drew from the in-memory result; the figures now come from the log. The binaries and
// run_and_log (--NAME-plot, --NAME-plot-path) refuse it before any work, naming the command.
TEST(DualityCli, PlotIsRefusedWithTheCommandThatReplacedIt) {
  for (const auto& [bin, args] : std::vector<std::pair<std::string, std::string>>{
           {"exp4_time_scaling", "--plot"},
           {"exp3b_rank_vs_state_dim", "--plot x.png"},
           {"run_and_log", "--experiment exp4 --exp4-plot"},
           {"run_and_log", "--experiment exp4 --exp4-plot-path=x.png"},
           {"run_and_log", "--experiment exp1 --plot"}}) {
    auto r = run(bin, args);
    EXPECT_EQ(r.code, 2) << bin << " " << args << ": " << r.err;
    EXPECT_NE(r.err.find("plot_logs --spec duality/plots.json"), std::string::npos) << bin << " " << args << ": " << r.err;
  }
}

TEST(DualityTable, EveryBinaryAcceptsHelpAndItsDeclaredFlags) {
  for (const auto& e : d::experiments()) {
    const nlohmann::json flags = declared_flags(e);
    EXPECT_FALSE(flags.empty()) << e.program;
    // every flag with its default value is accepted (an unknown flag would be exit 2 even with --help)
    auto r = run(e.program, as_command_line(flags) + " --help");
    EXPECT_EQ(r.code, 0) << e.program << as_command_line(flags) << ": " << r.err;
    // and listed in --help, bare in the binary and prefixed in run_and_log
    namespace fs = std::filesystem;
    const std::string help = fs::temp_directory_path() / ("ssmlab_duality_help_" + std::to_string(::getpid()));
    for (const std::string& bin : {e.program, std::string("run_and_log")}) {
      ASSERT_EQ(std::system((std::string(SSMLAB_BIN_DIR) + "/" + bin + " --help >" + help).c_str()), 0) << bin;
      std::ifstream in(help);
      std::stringstream text;
      text << in.rdbuf();
      const std::string prefix = bin == "run_and_log" ? e.name + "-" : "";
      for (const auto& [name, value] : flags.items())
        EXPECT_NE(text.str().find("--" + prefix + name + " "), std::string::npos) << bin << " --" << prefix << name;
    }
    fs::remove(help);
  }
}

TEST(DualityTable, RunAndLogWritesTheBinarysRecords) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ssmlab_duality_table_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"exp1", {{"T", 16}, {"a", 0.5}}},
      {"exp2", {{"T", 12}, {"decays", {0.25, 0.5, 0.75}}, {"rank-tol", 1e-9}}},
      {"exp2b", {{"T", 8}, {"N", 3}, {"mode", "selective"}}},
      {"exp3", {{"T-values", {15}}, {"seeds", {0}}, {"random-n", 1}}},
      {"exp5", {{"T-values", {20, 40}}, {"d-k", 4}}},
  };
  for (const auto& [name, flags] : cases) {
    const d::Experiment& e = d::find_experiment(name);
    nlohmann::json prefixed;
    for (const auto& [k, v] : flags.items()) prefixed[name + "-" + k] = v;
    const std::string bin_log = (dir / (name + "_bin.jsonl")).string(), batch_log = (dir / (name + "_batch.jsonl")).string();
    ASSERT_EQ(run_raw(e.program, as_command_line(flags) + " --quiet --threads 1 --log " + bin_log).code, 0) << name;
    ASSERT_EQ(run_raw("run_and_log", "--experiment " + name + as_command_line(prefixed) + " --quiet --threads 1 --log " +
                                         batch_log).code, 0) << name;
    const auto from_binary = records(bin_log), from_batch = records(batch_log);
    ASSERT_FALSE(from_binary.empty()) << name;
    ASSERT_EQ(from_binary.size(), from_batch.size()) << name;
    for (size_t i = 0; i < from_binary.size(); ++i) EXPECT_EQ(from_binary[i], from_batch[i]) << name << " record " << i;
  }
  fs::remove_all(dir);
}

TEST(DualityTable, OldRunAndLogSpellingsWarnAndWork) {
  namespace fs = std::filesystem;
  const std::string log = (fs::temp_directory_path() / ("ssmlab_duality_old_" + std::to_string(::getpid()) + ".jsonl")).string();
  auto r = run_raw("run_and_log", "--experiment exp3 --exp3-t-list 15 --exp3-seeds 0 --log " + log);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: --exp3-t-list is deprecated; use --exp3-T-values"), std::string::npos) << r.err;
  const auto recs = records(log);
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.back()["params"]["T_values"], nlohmann::json::array({15}));
  fs::remove(log);
  // exp2b: both parameterisations unless --exp2b-mode picks one
  r = run_raw("run_and_log", "--experiment exp2b --log " + log);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(records(log).size(), 2u);
  fs::remove(log);
  r = run_raw("run_and_log", "--experiment exp2b --exp2b-mode selective --log " + log);
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(records(log).size(), 1u);
  EXPECT_EQ(records(log)[0]["params"]["mode"], "selective");
  fs::remove(log);
}
