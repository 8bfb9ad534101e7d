// test_exit_codes.cpp — issue 15: every binary fails cleanly and tells the truth.
// Exit 2 for usage/config errors found before any work (flags, config values, output paths),
// exit 1 for failures while working, never a signal; values are never silently changed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <new>
#include <stdexcept>

#include "tests/common/child_process.h"
#include "ssmlab/checks.h"
#include "ssmlab/cli.h"
#include "ssmlab/main_guard.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using ssmlab::test::run_command;
using ssmlab::test::run_in_child;

namespace {
const std::string kBin = SSMLAB_BIN_DIR;

struct Demo {
  std::uint64_t count = 3;
  double lr = 0.1;
  std::vector<double> lrs{0.1};
  bool flag = false;
};
// Parses args with a demo Cli; returns the UsageError's message ("" when parsing succeeds).
std::string parse_error(std::vector<std::string> args, Demo* out = nullptr) {
  Demo d;
  ssmlab::Cli cli("demo", "demo", "testfam");
  cli.add("count", &d.count, "an unsigned count");
  cli.add("lr", &d.lr, "a scalar");
  cli.add("lrs", &d.lrs, "a list");
  cli.flag("switch", &d.flag, "a switch");
  std::vector<const char*> argv{"demo"};
  for (auto& a : args) argv.push_back(a.c_str());
  try {
    cli.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const ssmlab::UsageError& e) {
    return e.what();
  }
  if (out) *out = d;
  return "";
}
std::string write_config(const fs::path& dir, const std::string& name, const std::string& text) {
  const fs::path p = dir / name;
  std::ofstream(p) << text;
  return p.string();
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST(ExitCodes, RunMainMapsExceptionsToExitCodes) {
  auto code = [](std::function<int(int, char**)> fn) {
    auto r = run_in_child([&] { return ssmlab::run_main(0, nullptr, fn); }, 10);
    EXPECT_TRUE(r.finished && r.exited) << "signal " << r.signal;
    return r.code;
  };
  EXPECT_EQ(code([](int, char**) -> int { throw ssmlab::UsageError("--x bad"); }), 2);
  EXPECT_EQ(code([](int, char**) -> int { throw std::runtime_error("io failed"); }), 1);
  EXPECT_EQ(code([](int, char**) -> int { throw std::bad_alloc(); }), 1);
  EXPECT_EQ(code([](int, char**) -> int { throw 42; }), 1);
  EXPECT_EQ(code([](int, char**) { return 0; }), 0);
  // a LibTorch-style message loses its C++ backtrace
  const std::runtime_error c10like("shape mismatch: [2, 3] vs [3]\nException raised from check at x.cpp:1\nframe #0: ...");
  EXPECT_EQ(ssmlab::error_message(c10like), "shape mismatch: [2, 3] vs [3]");
}

TEST(ExitCodes, OutputPathsAreCheckedBeforeWork) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("exit_outputs");
  auto err = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const ssmlab::UsageError& e) {
      return e.what();
    }
    return "";
  };
  using ssmlab::check_output_dir;
  using ssmlab::check_output_file;
  // fine: a new file in an existing or creatable folder, an existing regular file, empty (off)
  EXPECT_EQ(err([&] { check_output_file("checkpoint", (dir / "a.ckpt").string()); }), "");
  EXPECT_EQ(err([&] { check_output_file("checkpoint", (dir / "new/sub/a.ckpt").string()); }), "");
  std::ofstream(dir / "exists.txt") << "x";
  EXPECT_EQ(err([&] { check_output_file("log", (dir / "exists.txt").string()); }), "");
  EXPECT_EQ(err([&] { check_output_file("log", ""); }), "");
  EXPECT_EQ(err([&] { check_output_dir("checkpoint-dir", (dir / "d/e").string()); }), "");
  // refused, naming the flag and the path
  std::string e = err([&] { check_output_file("checkpoint", dir.string()); });
  EXPECT_TRUE(contains(e, "--checkpoint '" + dir.string() + "' is a directory")) << e;
  e = err([] { check_output_file("checkpoint", "/proc/x.ckpt"); });
  EXPECT_TRUE(contains(e, "--checkpoint '/proc/x.ckpt'") && contains(e, "cannot create files in '/proc'")) << e;
  e = err([] { check_output_file("log", "/dev/null"); });
  EXPECT_TRUE(contains(e, "character device")) << e;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  e = err([&] { check_output_file("report", (dir / "fifo").string()); });
  EXPECT_TRUE(contains(e, "--report") && contains(e, "FIFO")) << e;
  e = err([&] { check_output_file("out", (dir / "exists.txt/below.png").string()); });
  EXPECT_TRUE(contains(e, "not a folder")) << e;
  e = err([] { check_output_dir("checkpoint-dir", "/etc/passwd"); });
  EXPECT_TRUE(contains(e, "--checkpoint-dir '/etc/passwd' is a regular file, expected a folder")) << e;
  e = err([] { check_output_dir("out", "/proc/xx"); });
  EXPECT_TRUE(contains(e, "--out '/proc/xx'")) << e;
  // the probe files are gone
  for (auto& f : fs::directory_iterator(dir)) EXPECT_FALSE(contains(f.path().filename().string(), "probe")) << f.path();
  ssmlab::test::remove_tree(dir);
}

TEST(ExitCodes, CliRefusesValuesItWouldSilentlyChange) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("exit_cli");
  // negative values of unsigned flags (Boost reads "-1" as 2^64 - 1)
  EXPECT_TRUE(contains(parse_error({"--seed", "-1", "--log", "none"}), "--seed must be >= 0 (got -1)"));
  EXPECT_TRUE(contains(parse_error({"--count=-5", "--log", "none"}), "--count must be >= 0 (got -5)"));
  Demo d;
  EXPECT_EQ(parse_error({"--seed", "18446744073709551615", "--count", "7", "--log", "none"}, &d), "");
  EXPECT_EQ(d.count, 7u);
  // config values of the wrong JSON type
  auto cfg = [&](const std::string& text) {
    return parse_error({"--config", write_config(dir, "c.json", text), "--log", "none"});
  };
  EXPECT_TRUE(contains(cfg(R"({"lr": [0.1, 0.2]})"), "'lr'") && contains(cfg(R"({"lr": [0.1, 0.2]})"), "takes one value, not a list"));
  EXPECT_TRUE(contains(cfg(R"({"switch": "maybe"})"), "is a switch: its value must be true or false"));
  EXPECT_TRUE(contains(cfg(R"({"switch": 1})"), "is a switch"));
  EXPECT_TRUE(contains(cfg(R"({"lr": true})"), "takes a value, not true/false"));
  EXPECT_TRUE(contains(cfg(R"({"seed": -1})"), "--seed must be >= 0 (got -1) in --config"));
  EXPECT_TRUE(contains(cfg(R"({"lrs": []})"), "needs at least one value"));
  EXPECT_EQ(cfg(R"({"lrs": [0.1, 0.2], "switch": true, "lr": 0.5})"), "");
  // --threads is bounded by the machine (5000 threads hung in thread start-up)
  const std::string e = parse_error({"--threads", "5000", "--log", "none"});
  EXPECT_TRUE(contains(e, "--threads must be <= " + std::to_string(ssmlab::max_threads())) && contains(e, "hardware threads")) << e;
  EXPECT_EQ(parse_error({"--threads", std::to_string(ssmlab::max_threads()), "--log", "none"}), "");
  // the shared outputs: --log, --plot (a directory is refused), --out
  EXPECT_TRUE(contains(parse_error({"--log", "/proc/x.jsonl"}), "--log '/proc/x.jsonl'"));
  EXPECT_TRUE(contains(parse_error({"--log", dir.string()}), "is a directory"));
  EXPECT_TRUE(contains(parse_error({"--log", "none", "--plot", dir.string()}), "--plot '" + dir.string() + "' is a directory"));
  EXPECT_TRUE(contains(parse_error({"--log", "none", "--plot", "/proc/p.png"}), "--plot '/proc/p.png'"));
  EXPECT_TRUE(contains(parse_error({"--out", "/etc/passwd", "--log", "none", "--plot"}), "--out '/etc/passwd'"));
  EXPECT_EQ(parse_error({"--log", (dir / "logs/x.jsonl").string(), "--plot", (dir / "p.png").string()}), "");
  ssmlab::test::remove_tree(dir);
}

TEST(ExitCodes, CheckLogsAndPlotLogsRefuseBadOutputsWithExit2) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("exit_tools");
  const std::string log = (dir / "x.jsonl").string();
  std::ofstream(log) << "{}\n";
  for (const std::string& report : {std::string("/proc/x.md"), dir.string(), std::string("/dev/null")}) {
    auto [rc, out] = run_command(kBin + "/check_logs --no-rules " + log + " --report " + report, 20);
    EXPECT_EQ(rc, 2) << report << ": " << out;
    EXPECT_TRUE(contains(out, "error: --report")) << out;
  }
  auto [rc, out] = run_command(kBin + "/plot_logs --logs " + log + " --experiment e --x params.T --y metrics.a --output /proc/x.png", 20);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_TRUE(contains(out, "--output '/proc/x.png'")) << out;
  std::tie(rc, out) = run_command(kBin + "/check_logs --no-rules " + log + " --log /proc/x.jsonl", 20);
  EXPECT_EQ(rc, 2) << out;
  ssmlab::test::remove_tree(dir);
}

// A finished run that reports failure (a diverged training run) is one failure with its reason:
// not "unfinished", and its non-finite metrics and the rules are not reported again.
TEST(ExitCodes, CheckLogsReportsAFailedResultOnceAsFinished) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("exit_failed");
  const std::string log = (dir / "x.jsonl").string();
  auto rec = [](const std::string& kind, const std::string& status, const std::string& metrics, const std::string& summary) {
    return R"({"schema":1,"experiment":"synthetic_train","family":"synthetic","record":")" + kind +
           R"(","run_id":"00000000000000aa","timestamp":"2026-11-30T00:00:00.000Z","git":"x","seed":0,"params":{},"metrics":)" +
           metrics + R"(,"summary":")" + summary + R"(","status":")" + status + R"(","wall_s":1})" + "\n";
  };
  std::ofstream(log) << rec("step", "ok", R"({"step":4,"loss":2.0})", "step 4")
                     << rec("result", "failed", R"({"final_train_loss":null,"failed_step":5,"error":"non-finite loss at step 5"})",
                            "T_rope: FAILED: non-finite loss (nan) at step 5");
  ssmlab::checks::RuleSet rules;
  ssmlab::checks::Rule rule;
  rule.experiment = "synthetic_train";
  rule.name = "r";
  rule.require.path = "metrics.id_string_acc";
  rule.require.op = ">=";
  rule.require.value = 0.5;
  ssmlab::checks::Condition on_result;  // the rule holds for results (as the families' rules)
  on_result.path = "record";
  on_result.op = "==";
  on_result.value = "result";
  rule.when.push_back(on_result);
  rules.rules.push_back(rule);
  ssmlab::checks::Report report;
  ssmlab::checks::check_file(log, rules, report);
  ASSERT_EQ(report.failures.size(), 1u);
  EXPECT_EQ(report.failures[0].rule, "status");
  EXPECT_TRUE(contains(report.failures[0].detail, "non-finite loss (nan) at step 5")) << report.failures[0].detail;
  EXPECT_EQ(report.failures[0].line, 2);
  auto [rc, out] = run_command(kBin + "/check_logs --no-rules " + log, 20);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_FALSE(contains(out, "no \"result\" after it")) << out;
  ssmlab::test::remove_tree(dir);
}
