#include <gtest/gtest.h>

#include <fstream>

#include "tests/common/child_process.h"
#include "ssmlab/cli.h"

using ssmlab::Cli;
using ssmlab::UsageError;

namespace {
struct Flags {
  int T = 32;
  double a = 0.9;
  std::vector<int> Ts{300, 600};
  std::vector<double> decays{0.5, 0.8};
  std::string model = "mamba";
  bool e2e = false;
};
// Declares the flags on a fresh Cli and parses argv.
ssmlab::CommonOptions parse(Flags& f, std::vector<std::string> args, bool* help = nullptr) {
  Cli cli("demo", "A demo binary.", "testfam", "testfam.jsonl");
  cli.add("T", &f.T, "sequence length [steps]").at_least(1);
  cli.add("a", &f.a, "decay").at_least(-1.0).at_most(1.0);
  cli.add("T-values", &f.Ts, "lengths [steps]").nonempty().sorted().at_least(1);
  cli.add("decays", &f.decays, "decays").nonempty();
  cli.add("model", &f.model, "model").one_of({"mamba", "lstm"});
  cli.flag("end-to-end", &f.e2e, "include kernel construction");
  std::vector<const char*> argv{"demo"};
  for (auto& s : args) argv.push_back(s.c_str());
  auto o = cli.parse(static_cast<int>(argv.size()), argv.data());
  if (help) *help = cli.help_requested();
  return o;
}
std::string error_of(std::vector<std::string> args) {
  Flags f;
  try {
    parse(f, args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Cli, DefaultsAndCommonOptions) {
  Flags f;
  auto o = parse(f, {});
  EXPECT_EQ(f.T, 32);
  EXPECT_EQ(o.out_dir, "outputs");
  EXPECT_EQ(o.log_path, "outputs/logs/testfam.jsonl");
  EXPECT_FALSE(o.plot);
  EXPECT_GE(o.threads, 1);
  EXPECT_EQ(o.params["T"], 32);
  EXPECT_EQ(o.params["model"], "mamba");
  EXPECT_EQ(o.params["T-values"], nlohmann::json::array({300, 600}));
}

TEST(Cli, ParsesValuesFlagsAndNegativeNumbers) {
  Flags f;
  auto o = parse(f, {"--T", "7", "--a", "-0.5", "--T-values", "5", "10", "20", "--end-to-end", "--seed", "9",
                     "--out", "/tmp/x", "--plot", "--threads", "1", "--quiet"});
  EXPECT_EQ(f.T, 7);
  EXPECT_DOUBLE_EQ(f.a, -0.5);
  EXPECT_EQ(f.Ts, (std::vector<int>{5, 10, 20}));
  EXPECT_TRUE(f.e2e);
  EXPECT_EQ(o.seed, 9u);
  EXPECT_EQ(o.log_path, "/tmp/x/logs/testfam.jsonl");
  EXPECT_TRUE(o.plot);
  EXPECT_EQ(o.plot_file("p.png"), "/tmp/x/plots/p.png");
  EXPECT_EQ(o.threads, 1);
  EXPECT_TRUE(o.quiet);
}

TEST(Cli, PlotPathAndLogNone) {
  Flags f;
  auto o = parse(f, {"--plot", "fig.png", "--log", "none"});
  EXPECT_EQ(o.plot_file("default.png"), "fig.png");
  EXPECT_EQ(o.log_path, "");
}

TEST(Cli, ClearOneLineErrors) {
  EXPECT_EQ(error_of({"--T", "-3"}), "--T must be >= 1 (got -3)");
  EXPECT_EQ(error_of({"--T", "0"}), "--T must be >= 1 (got 0)");
  EXPECT_EQ(error_of({"--a", "nan"}), "--a must be finite (got nan)");
  EXPECT_EQ(error_of({"--a", "2"}), "--a must be <= 1 (got 2)");
  EXPECT_NE(error_of({"--T", "abc"}).find("--T"), std::string::npos);
  EXPECT_EQ(error_of({"--T-values", "5", "3"}), "--T-values values must be strictly increasing (got 5 then 3)");
  EXPECT_EQ(error_of({"--T-values", "-5", "3"}), "--T-values values must all be >= 1 (got -5)");
  EXPECT_EQ(error_of({"--decays"}), "--decays needs at least one value");
  EXPECT_EQ(error_of({"--decays", "--T", "5"}), "--decays needs at least one value");
  EXPECT_EQ(error_of({"--model", "gru"}), "--model must be one of mamba|lstm (got 'gru')");
  EXPECT_EQ(error_of({"--no-such-flag"}), "unknown flag '--no-such-flag' (see --help)");
  EXPECT_NE(error_of({"stray"}), "");
  EXPECT_EQ(error_of({"--threads", "-1"}), "--threads must be >= 0 (got -1)");
}

TEST(Cli, HelpListsFlagsDefaultsAndCommonOptions) {
  Flags f;
  bool help = false;
  parse(f, {"--help"}, &help);
  EXPECT_TRUE(help);
  Cli cli("demo", "A demo binary.", "testfam");
  int T = 32;
  cli.add("T", &T, "sequence length [steps]");
  auto h = cli.help();
  EXPECT_NE(h.find("--T arg (=32)"), std::string::npos) << h;
  EXPECT_NE(h.find("sequence length [steps]"), std::string::npos);
}

TEST(Cli, ConfigFileThenCommandLineOverrides) {
  std::string path = ::testing::TempDir() + "/ssmlab_cli_config.json";
  std::ofstream(path) << R"({"T": 11, "decays": [0.1, 0.2, 0.3], "end_to_end": true, "model": "lstm"})";
  Flags f;
  ::testing::internal::CaptureStderr();
  auto o = parse(f, {"--config", path, "--T", "5"});
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");  // "end_to_end" maps to --end-to-end silently
  EXPECT_EQ(f.T, 5);                                    // command line wins
  EXPECT_EQ(f.decays, (std::vector<double>{0.1, 0.2, 0.3}));  // from the file
  EXPECT_TRUE(f.e2e);
  EXPECT_EQ(f.model, "lstm");
  EXPECT_EQ(o.params["T"], 5);
}

TEST(Cli, BadConfigFilesAreUsageErrors) {
  std::string bad = ::testing::TempDir() + "/ssmlab_cli_bad.json";
  std::ofstream(bad) << R"({"T": 11, "nonexistent": 3})";
  EXPECT_NE(error_of({"--config", bad}).find("unknown flag 'nonexistent'"), std::string::npos);
  std::ofstream(bad) << R"({"T": )";
  EXPECT_NE(error_of({"--config", bad}).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of({"--config", "/no/such/file.json"}).find("cannot open"), std::string::npos);
  std::ofstream(bad) << R"({"T": -4})";
  EXPECT_EQ(error_of({"--config", bad}), "--T must be >= 1 (got -4)");  // validated like the command line
}

// Flag names are kebab-case (cli.h); a single upper-case letter may be a word (the papers' T, N).
TEST(Cli, SnakeCaseRegistrationIsAProgrammingError) {
  for (const char* ok : {"T", "a", "N-values", "T-values", "max-T-full", "d-k", "exp4-t-list", "end-to-end", "n2"})
    EXPECT_TRUE(ssmlab::is_valid_flag_name(ok)) << ok;
  for (const char* bad : {"N_values", "noise_std", "list_models", "Nvalues", "Noise-std", "max-TT", "-a", "a-", "a--b", "2d", "",
                          "a b", "a=b", "lr."})
    EXPECT_FALSE(ssmlab::is_valid_flag_name(bad)) << bad;
  Cli cli("demo", "A demo binary.", "testfam");
  std::vector<int> Ns;
  bool b = false;
  EXPECT_THROW(cli.add("N_values", &Ns, "state sizes"), std::logic_error);
  EXPECT_THROW(cli.flag("list_models", &b, "list"), std::logic_error);
  try {
    cli.add("noise_std", &Ns, "noise");
    ADD_FAILURE() << "no exception";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("--noise_std is not kebab-case"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(cli.add("N-values", &Ns, "state sizes"));
  EXPECT_THROW(cli.add("N-values", &Ns, "state sizes"), std::logic_error);  // declared twice
  EXPECT_THROW(cli.flag("N-values", &b, "again"), std::logic_error);
}

// An old snake-case spelling works, with one deprecation line per flag; --help lists only the new names.
TEST(Cli, SnakeCaseSpellingWarnsAndWorks) {
  Flags f;
  ::testing::internal::CaptureStderr();
  auto o = parse(f, {"--T_values", "1", "2", "--end_to_end", "--T_values=3", "--T", "7"});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(f.Ts, (std::vector<int>{1, 2, 3}));  // both uses land in the one list, as with the kebab spelling
  EXPECT_TRUE(f.e2e);
  EXPECT_EQ(f.T, 7);
  EXPECT_EQ(o.params["T-values"], nlohmann::json::array({1, 2, 3}));  // the log names the flag by its kebab name
  EXPECT_FALSE(o.params.contains("T_values"));
  EXPECT_EQ(err,
            "warning: --T_values is deprecated: use --T-values\n"
            "warning: --end_to_end is deprecated: use --end-to-end\n");  // one line per flag, not per use
  // validated under the new name
  EXPECT_EQ(error_of({"--T_values", "2", "1"}), "--T-values values must be strictly increasing (got 2 then 1)");
  // a snake-case name with no kebab twin is an unknown flag, named as typed
  EXPECT_NE(error_of({"--no_such_flag", "1"}).find("unknown flag '--no_such_flag'"), std::string::npos)
      << error_of({"--no_such_flag", "1"});
  // a value given with '=' is never read as a flag
  Flags g;
  EXPECT_EQ(error_of({"--model=--end_to_end"}), "--model must be one of mamba|lstm (got '--end_to_end')");
  // --help lists the kebab names only
  Flags h;
  bool help = false;
  ::testing::internal::CaptureStderr();
  parse(h, {"--end_to_end", "--help"}, &help);
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("deprecated"), std::string::npos);
  EXPECT_TRUE(help);
  Cli cli("demo", "A demo binary.", "testfam");
  std::vector<int> Ns{1};
  cli.add("N-values", &Ns, "state sizes");
  const std::string text = cli.help();
  EXPECT_NE(text.find("--N-values"), std::string::npos) << text;
  EXPECT_EQ(text.find("N_values"), std::string::npos) << text;
}

// Boost.Program_options replaced %value% (and its other placeholders) in its messages until none
// was left, so a value holding its own placeholder hung the binary (`check_logs --threads %value%`
// at 100 % CPU, found by tests/fuzz/fuzz_cli). In a child with a deadline, so that a regression
// fails here instead of hanging the suite.
TEST(Cli, ErrorMessagesEndWhenAValueHoldsBoostPlaceholders) {
  const std::string cfg = ::testing::TempDir() + "/ssmlab_cli_placeholder.json";
  std::ofstream(cfg) << R"({"T": "%value%"})";
  auto r = ssmlab::test::run_in_child([&] {
    const std::vector<std::vector<std::string>> cases = {
        {"--T", "%value%"}, {"--T=x%value%y"}, {"--a", "%canonical_option%%value%%original_token%"},
        {"--T-values", "1", "%value%"}, {"--model", "%value%"}, {"--config", cfg}, {"--T", "%prefix%%option%"}};
    for (const auto& c : cases)
      if (error_of(c).empty()) return 1;
    return 0;
  }, 20);
  ASSERT_TRUE(r.finished) << "Cli::parse hung on a value holding a Boost placeholder";
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.code, 0);
  // the message still shows the value, with a full-width percent sign
  EXPECT_NE(error_of({"--T", "%value%"}).find("\xEF\xBC\x85value\xEF\xBC\x85"), std::string::npos) << error_of({"--T", "%value%"});
  EXPECT_NE(error_of({"--T", "12%"}).find("12\xEF\xBC\x85"), std::string::npos);
}
