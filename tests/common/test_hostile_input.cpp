// Hostile input (issue 14): strings from logs reaching gnuplot scripts and file names, special
// files (FIFO, /dev/zero) named like inputs, and deeply nested JSON. Each test drives the real
// code path (the binaries where the fault was found) and fails if the fault comes back.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/common/child_process.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/checks.h"
#include "ssmlab/cli.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/plot.h"
#include "ssmlab/safe_io.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
namespace pl = ssmlab::plot;
using ssmlab::test::run_command;
using ssmlab::test::run_in_child;
using ssmlab::test::sq;

#ifndef SSMLAB_HOSTILE_CASES_DIR
#define SSMLAB_HOSTILE_CASES_DIR ""
#endif

namespace {
const std::string kBin = SSMLAB_BIN_DIR;

void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// A duality record (the shape of the case file) whose params.tag is `tag`.
nlohmann::json duality_record(int T, const std::string& tag) {
  ssmlab::CommonOptions o;
  o.family = "duality";
  o.params = {{"T", T}, {"tag", tag}};
  ssmlab::RunLog run(o, "exp1_scalar_equivalence");
  return run.make_record({{"max_rel_err", 1e-16 * T}}, "demo", true);
}

// Titles that ended the gnuplot command (or would have) and ran something: each one creates its
// marker file in the working folder if it ever gets executed.
std::vector<std::string> hostile_titles() {
  return {
      "evil\nsystem 'touch MARK_newline'\n#",                 // the case file: newline + system
      "evil\rsystem 'touch MARK_cr'\r#",                      // carriage return
      "a`touch MARK_backtick`b",                              // backtick substitution (runs inside "...")
      "x\" . system(\"touch MARK_dq\") . \"",                 // breaking out of a double-quoted string
      "x' . system('touch MARK_sq') . '",                     // ... of a single-quoted one
      "c\\\nsystem 'touch MARK_continuation'",                // backslash-newline continuation
      "m\nmac = \"system('touch MARK_macro')\"\n@mac\n#",     // an @macro defined and expanded
      "@mac @ARG0 `id`",                                      // macros and backticks without newline
      std::string("nul\0\nsystem 'touch MARK_nul'", sizeof("nul\0\nsystem 'touch MARK_nul'") - 1),  // NUL
      "tab\tvt\vff\fesc\x1b[2Jdel\x7f",                       // other control characters
  };
}
const char* kMarkers[] = {"MARK_newline", "MARK_cr", "MARK_backtick", "MARK_dq", "MARK_sq", "MARK_continuation",
                          "MARK_macro", "MARK_nul", "PWNED_by_log"};

void expect_no_markers(const fs::path& dir) {
  for (auto* m : kMarkers) EXPECT_FALSE(fs::exists(dir / m)) << m << " was created: a string from the input ran a command";
}

// Every line of a generated script: a title/label line must still be one command (a string
// that broke the line would leave a line starting with something else than a known command).
void expect_script_lines_are_commands(const std::string& gp) {
  std::istringstream in(gp);
  bool in_data = false;
  for (std::string line; std::getline(in, line);) {
    EXPECT_EQ(line.find('\r'), std::string::npos) << "raw carriage return in: " << line;
    EXPECT_EQ(line.find('\0'), std::string::npos);
    if (line.rfind("$d", 0) == 0 && line.find("<< EOD") != std::string::npos) { in_data = true; continue; }
    if (in_data) { if (line == "EOD") in_data = false; continue; }
    static const char* kStarts[] = {"#", "set ", "plot ", "     $d", "     ", "unset "};
    bool known = false;
    for (auto* s : kStarts) known = known || line.rfind(s, 0) == 0;
    EXPECT_TRUE(known) << "unexpected script line (a string escaped its quotes?): " << line;
    EXPECT_EQ(line.rfind("system", 0), std::string::npos) << line;
  }
}
}  // namespace

// ---- gnuplot strings --------------------------------------------------------------------------

TEST(PlotInjection, GnuplotStringIsSingleQuotedWithoutControlCharacters) {
  EXPECT_EQ(pl::gnuplot_string("plain_name"), "'plain_name'");
  EXPECT_EQ(pl::gnuplot_string("it's"), "'it''s'");
  EXPECT_EQ(pl::gnuplot_string("a\nb\rc\td"), "'a b c d'");
  EXPECT_EQ(pl::gnuplot_string("back\\slash `x` @m"), "'back\\slash `x` @m'");  // inert inside '...'
  for (const auto& t : hostile_titles()) {
    std::string q = pl::gnuplot_string(t);
    for (char c : q) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << "control char left in " << q;
    // the only quotes inside are doubled ones: the literal cannot end early
    std::string inner = q.substr(1, q.size() - 2);
    for (size_t i = 0; i < inner.size(); ++i)
      if (inner[i] == '\'') { ASSERT_TRUE(i + 1 < inner.size() && inner[i + 1] == '\'') << q; ++i; }
  }
}

TEST(PlotInjection, ReferenceExpressionsAndKeyAreCheckedAgainstAGrammar) {
  pl::PlotSpec s;
  s.output = "/tmp/ssmlab_unused.png";
  s.series.push_back({"a", {1, 2}, {1, 2}, {}, pl::Style::Lines});
  for (const std::string& ok : std::vector<std::string>{"x", "x/2", "1e-6*x**2", "exp(-1.2345678901)*x**2.5", "0.5*log10(x) + sqrt(x)", ".5*x"}) {
    s.refs = {{ok, "ref"}};
    EXPECT_NO_THROW(pl::gnuplot_script(s)) << ok;
  }
  for (const std::string& bad : std::vector<std::string>{"system('touch MARK')", "x\nsystem 'touch MARK'", "`touch MARK`", "@mac", "\"s\"",
                          "x; !touch MARK", "x # comment", "", "1e", "y"}) {
    s.refs = {{bad, "ref"}};
    EXPECT_THROW(pl::gnuplot_script(s), std::runtime_error) << bad;
  }
  s.refs.clear();
  s.key = "top left\nsystem 'touch MARK'";
  EXPECT_THROW(pl::gnuplot_script(s), std::runtime_error);
  s.key = "bottom right";
  EXPECT_NO_THROW(pl::gnuplot_script(s));
  s.output = "x\nsystem 'touch MARK'\n.png";
  EXPECT_THROW(pl::gnuplot_script(s), std::runtime_error);
}

TEST(PlotInjection, HostileTitlesLabelsLegendsAndTicsRenderWithoutRunningAnything) {
  if (!pl::gnuplot_available()) GTEST_SKIP() << "gnuplot not installed";
  const fs::path dir = ssmlab::test::fresh_temp_dir("plot_siblings");
  const auto titles = hostile_titles();
  for (size_t i = 0; i < titles.size(); ++i) {
    pl::PlotSpec s;
    s.title = titles[i];
    s.xlabel = titles[i];
    s.ylabel = titles[i];
    s.output = (dir / ("p" + std::to_string(i) + ".png")).string();
    s.series.push_back({titles[i], {1, 2, 3}, {1, 4, 9}, {}, pl::Style::LinesPoints});
    s.series.push_back({titles[i], {0, 1}, {2, 3}, {}, pl::Style::Bars});
    s.xtic_labels = {titles[i], "b"};
    s.refs = {{"x", titles[i]}};
    // gnuplot runs with the test's working folder set to `dir`: markers would land there
    auto r = run_in_child([&] {
      if (::chdir(dir.c_str()) != 0) return 3;
      pl::render_plot(s);
      return 0;
    }, 60);
    ASSERT_TRUE(r.finished);
    EXPECT_TRUE(r.exited && r.code == 0) << "title #" << i << ": render failed (code " << r.code << ")";
    EXPECT_TRUE(fs::exists(s.output)) << i;
    expect_script_lines_are_commands(read_text(s.output + ".gp"));
  }
  expect_no_markers(dir);
  ssmlab::test::remove_tree(dir);
}

// The reported case: plot_logs --group-by params.tag with a tag holding "\nsystem '...'\n#".
TEST(PlotInjection, PlotLogsWithATitleFromTheLogRunsNothing) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("plot_case");
  std::string log;
  for (int T : {8, 16, 32}) log += duality_record(T, "evil\nsystem 'touch PWNED_by_log'\n#").dump() + "\n";
  write_text(dir / "case.jsonl", log);
  auto [rc, out] = run_command("cd " + sq(dir.string()) + " && " + kBin +
                               "/plot_logs --logs case.jsonl --experiment exp1_scalar_equivalence --x params.T"
                               " --y metrics.max_rel_err --group-by params.tag --output x.png");
  expect_no_markers(dir);
  if (!pl::gnuplot_available()) GTEST_SKIP() << "gnuplot not installed (script checked only)";
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(fs::exists(dir / "x.png")) << out;
  const std::string gp = read_text(dir / "x.png.gp");
  expect_script_lines_are_commands(gp);
  // the legend is one line, with the newlines of the tag turned into spaces
  EXPECT_NE(gp.find("title 'evil system ''touch PWNED_by_log'' #' noenhanced"), std::string::npos) << gp;
  ssmlab::test::remove_tree(dir);
}

// The case file itself, where the shared cases folder exists next to the checkout.
TEST(PlotInjection, SharedCaseFileRendersWithoutRunningAnything) {
  const fs::path cases = SSMLAB_HOSTILE_CASES_DIR;
  if (cases.empty() || !fs::exists(cases / "plot_title_injection.jsonl"))
    GTEST_SKIP() << "shared case folder not present (" << cases << ")";
  const fs::path dir = ssmlab::test::fresh_temp_dir("plot_sharedcase");
  auto [rc, out] = run_command("cd " + sq(dir.string()) + " && " + kBin + "/plot_logs --logs " +
                               sq((cases / "plot_title_injection.jsonl").string()) +
                               " --experiment exp1_scalar_equivalence --x params.T --y metrics.max_rel_err"
                               " --group-by params.tag --output x.png");
  expect_no_markers(dir);
  if (!pl::gnuplot_available()) GTEST_SKIP() << "gnuplot not installed";
  EXPECT_EQ(rc, 0) << out;
  expect_script_lines_are_commands(read_text(dir / "x.png.gp"));
  ssmlab::test::remove_tree(dir);
}

// ---- names reaching file paths ------------------------------------------------------------------

TEST(SafeFileName, KeepsPlainNamesAndReducesEverythingElse) {
  using ssmlab::safe_file_name;
  EXPECT_EQ(safe_file_name("mamba_diag_exp"), "mamba_diag_exp");
  EXPECT_EQ(safe_file_name("T-nope.v2"), "T-nope.v2");
  std::set<std::string> seen;
  for (const std::string& n : std::vector<std::string>{"../../x", "..", ".", "", "a/b", "a_b", "/etc/passwd", "x\ny", "$(touch M)", "..hidden",
                        std::string(300, 'a'), std::string(300, 'a') + "b", "ü", "a\\b", "con:"}) {
    std::string s = safe_file_name(n);
    EXPECT_FALSE(s.empty()) << n;
    EXPECT_NE(s, ".");
    EXPECT_NE(s, "..");
    EXPECT_NE(s[0], '.') << s;
    EXPECT_LE(s.size(), 89u) << s;
    for (char c : s) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') << s;
    EXPECT_TRUE(seen.insert(s).second) << "two names map to '" << s << "'";  // distinct names stay distinct
  }
}

// time_series/plots.json splits the validation curves by metrics.model from the log: the model is part of
// an output file name.
TEST(SafeFileName, PlotLogsSplitByKeepsEveryOutputInsidePlotDir) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("split_by_names");
  const fs::path plots = dir / "a" / "b" / "plots";
  fs::create_directories(plots);
  std::string log;
  const std::vector<std::string> models = {"../../escaped", "../../../escaped2", "sub/dir", "..", "x\nsystem 'touch MARK_newline'",
                                           "q'$(touch MARK_sq)'", "mamba_diag_exp"};
  for (const auto& m : models) {
    ssmlab::CommonOptions o;
    o.family = "time_series";
    ssmlab::RunLog run(o, "exp_synthetic_ndecay");
    for (int e = 1; e <= 3; ++e)
      log += run.make_record({{"model", m}, {"N", 2}, {"epoch", e}, {"val_mse", 1.0 / e}}, "e", true, "epoch").dump() + "\n";
    log += run.make_record({{"model", m}, {"N", 2}, {"val_mse", 0.3}, {"noise_mse", 0.01}}, "r", true).dump() + "\n";
  }
  // a record with a model that is not a string is skipped, not a crash
  log += R"({"experiment":"exp_synthetic_ndecay","record":"result","metrics":{"model":["x"],"N":1,"val_mse":1}})" "\n";
  write_text(dir / "ts.jsonl", log);
  auto [rc, out] = run_command("cd " + sq(plots.string()) + " && " + kBin + "/plot_logs --spec " +
                               sq(std::string(SSMLAB_SOURCE_DIR) + "/time_series/plots.json") + " --logs " +
                               sq((dir / "ts.jsonl").string()) + " --plot-dir " + sq(plots.string()));
  EXPECT_TRUE(rc == 0 || rc == 1) << "exit " << rc << ": " << out;  // never a signal
  // nothing outside plots/: the folders above hold exactly what the test made
  EXPECT_EQ(names_in(dir), (std::set<std::string>{"a", "ts.jsonl"}));
  EXPECT_EQ(names_in(dir / "a"), (std::set<std::string>{"b"}));
  EXPECT_EQ(names_in(dir / "a" / "b"), (std::set<std::string>{"plots"}));
  expect_no_markers(plots);
  if (pl::gnuplot_available()) {
    EXPECT_EQ(rc, 0) << out;
    EXPECT_TRUE(fs::exists(plots / "synthetic_decays_val_curves_mamba_diag_exp.png")) << out;
    int curves = 0;
    for (auto& n : names_in(plots))
      if (n.rfind("synthetic_decays_val_curves_", 0) == 0 && n.size() > 4 && n.substr(n.size() - 4) == ".png") ++curves;
    EXPECT_EQ(curves, static_cast<int>(models.size())) << out;  // one per model, none lost to a collision
  }
  ssmlab::test::remove_tree(dir);
}

// ---- special files named like inputs ------------------------------------------------------------

namespace {
struct SpecialFiles {
  fs::path dir, fifo, zero, devdir;
  SpecialFiles(const std::string& name) {
    dir = ssmlab::test::fresh_temp_dir(name);
    fifo = dir / "fifo.jsonl";
    zero = dir / "zero.jsonl";
    devdir = dir / "adir.jsonl";
    EXPECT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    fs::create_symlink("/dev/zero", zero);
    fs::create_directory(devdir);
  }
  ~SpecialFiles() { ssmlab::test::remove_tree(dir); }
  std::vector<fs::path> all() const { return {fifo, zero, devdir}; }
};
constexpr rlim_t kChildMemory = 2ull << 30;  // a reader of /dev/zero would hit this, not the machine
}  // namespace

TEST(SpecialFiles, CheckedReaderRefusesFifoDeviceAndDirectoryQuickly) {
  SpecialFiles sf("special_reader");
  for (const auto& p : sf.all()) {
    for (int kind = 0; kind < 4; ++kind) {
      auto r = run_in_child([&] {
        try {
          if (kind == 0) ssmlab::read_file(p.string());
          if (kind == 1) ssmlab::read_json_file(p.string());
          if (kind == 2) ssmlab::read_jsonl(p.string());
          if (kind == 3) ssmlab::open_regular_file(p.string(), 1 << 20, "file");
        } catch (const std::runtime_error& e) {
          std::string m = e.what();
          bool names = m.find(p.string()) != std::string::npos && m.find("not a regular file") != std::string::npos;
          if (!names) std::fprintf(stderr, "message: %s\n", m.c_str());
          return names ? 0 : 1;
        }
        return 2;  // read something: wrong
      }, 5, kChildMemory);
      EXPECT_TRUE(r.finished) << p << " kind " << kind << ": the reader hung";
      EXPECT_TRUE(r.exited && r.code == 0) << p << " kind " << kind << ": code " << r.code << " signal " << r.signal;
    }
  }
}

TEST(SpecialFiles, SizeCapRefusesLargeFilesBeforeReading) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("special_cap");
  const fs::path big = dir / "big.json";
  write_text(big, std::string(4096, ' ') + "{}");
  EXPECT_NO_THROW(ssmlab::read_regular_file(big.string(), 8192));
  try {
    ssmlab::read_regular_file(big.string(), 1024, "JSON file");
    ADD_FAILURE() << "a file above the cap was read";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("above the limit of 1024 bytes"), std::string::npos) << e.what();
  }
  // a symlink to a regular file is followed (checkpoint caches use them)
  fs::create_symlink(big, dir / "link.json");
  EXPECT_EQ(ssmlab::read_json_file((dir / "link.json").string()), nlohmann::json::object());
  ssmlab::test::remove_tree(dir);
}

TEST(SpecialFiles, BinariesAndConfigFinishWithAClearErrorOnFifoAndDevZero) {
  SpecialFiles sf("special_bins");
  for (const auto& p : {sf.fifo, sf.zero}) {
    // check_logs: a usage error found before checking
    auto [rc, out] = run_command(kBin + "/check_logs --no-rules " + sq(p.string()), 20);
    EXPECT_EQ(rc, 2) << out;
    EXPECT_NE(out.find("not a regular file"), std::string::npos) << out;
    // plot_logs: an error while working
    std::tie(rc, out) = run_command(kBin + "/plot_logs --logs " + sq(p.string()) +
                                    " --experiment e --x params.T --y metrics.m --output " + sq((sf.dir / "o.png").string()), 20);
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("not a regular file"), std::string::npos) << out;
    // --config of any binary (Cli): a usage error
    std::tie(rc, out) = run_command(kBin + "/check_logs --config " + sq(p.string()) + " x.jsonl", 20);
    EXPECT_EQ(rc, 2) << out;
    EXPECT_NE(out.find("--config"), std::string::npos) << out;
    EXPECT_NE(out.find("not a regular file"), std::string::npos) << out;
    // a rules file
    std::tie(rc, out) = run_command(kBin + "/check_logs x.jsonl --no-rules --rules " + sq(p.string()), 20);
    EXPECT_EQ(rc, 2) << out;
    EXPECT_NE(out.find("rule file"), std::string::npos) << out;
    EXPECT_NE(out.find("not a regular file"), std::string::npos) << out;
  }
}

TEST(SpecialFiles, AppendingToAFifoOrDeviceLogIsRefusedQuickly) {
  SpecialFiles sf("special_append");
  for (const auto& p : {sf.fifo, sf.zero, fs::path("/dev/null")}) {
    auto r = run_in_child([&] {
      try {
        ssmlab::append_jsonl(p.string(), {{"a", 1}});
      } catch (const std::runtime_error& e) {
        return std::string(e.what()).find("not a regular file") != std::string::npos ? 0 : 1;
      }
      return 2;
    }, 5);
    EXPECT_TRUE(r.finished) << p << ": append hung";
    EXPECT_TRUE(r.exited && r.code == 0) << p << ": code " << r.code;
  }
}

// ---- deeply nested JSON -------------------------------------------------------------------------

namespace {
std::string nested_arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
std::string nested_objects(size_t depth) {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += "{\"a\":";
  return s + "1" + std::string(depth, '}');
}
}  // namespace

TEST(DeepJson, ParserRefusesNestingBeyondTheLimit) {
  EXPECT_NO_THROW(ssmlab::parse_json_limited(nested_arrays(ssmlab::kMaxJsonDepth), "t"));
  EXPECT_NO_THROW(ssmlab::parse_json_limited(nested_objects(ssmlab::kMaxJsonDepth), "t"));
  for (const std::string& text : std::vector<std::string>{nested_arrays(ssmlab::kMaxJsonDepth + 1), nested_objects(ssmlab::kMaxJsonDepth + 1),
                                  nested_arrays(1000000), nested_objects(1000000)}) {
    try {
      ssmlab::parse_json_limited(text, "where");
      ADD_FAILURE() << "nesting of " << text.size() / 2 << " accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("where: JSON nested deeper than 256 levels"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(ssmlab::parse_json_limited("{\"a\": ", "t"), std::runtime_error);  // still a parser
}

TEST(DeepJson, CheckLogsReportsA10e6DeepLineInsteadOfCrashing) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("deep_json");
  const fs::path log = dir / "deep.jsonl";
  auto good = duality_record(8, "ok");
  // a deep value where the checker walks (metrics) and a deep line on its own
  write_text(log, good.dump() + "\n{\"metrics\":" + nested_arrays(1000000) + "}\n" + nested_arrays(1000000) + "\n" +
                      nested_objects(1000000) + "\n");
  auto lines = ssmlab::read_jsonl(log.string());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(lines[0].value.is_object());
  for (int i = 1; i < 4; ++i) {
    EXPECT_TRUE(lines[i].value.is_null());
    EXPECT_NE(lines[i].error.find("nested deeper"), std::string::npos) << lines[i].error;
  }
  auto [rc, out] = run_command(kBin + "/check_logs --no-rules " + sq(log.string()), 60);
  EXPECT_EQ(rc, 1) << out;  // a failure, reported; not a segfault (139)
  EXPECT_NE(out.find("deep.jsonl:2: [valid JSON]"), std::string::npos) << out.substr(0, 2000);
  EXPECT_NE(out.find("JSON nested deeper than 256 levels"), std::string::npos);
  // plot_logs reads the same lines
  std::tie(rc, out) = run_command(kBin + "/plot_logs --logs " + sq(log.string()) +
                                  " --experiment nope --x params.T --y metrics.m --output " + sq((dir / "o.png").string()), 60);
  EXPECT_EQ(rc, 1) << out;
  ssmlab::test::remove_tree(dir);
}

TEST(DeepJson, ConfigRuleFileAndIndexJsonAreLimitedToo) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("deep_cfg");
  write_text(dir / "cfg.json", "{\"T\": " + nested_arrays(1000000) + "}");
  auto [rc, out] = run_command(kBin + "/check_logs --config " + sq((dir / "cfg.json").string()) + " x.jsonl", 60);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("nested deeper"), std::string::npos) << out;
  write_text(dir / "rules.json", "{\"rules\": " + nested_arrays(1000000) + "}");
  std::tie(rc, out) = run_command(kBin + "/check_logs x.jsonl --no-rules --rules " + sq((dir / "rules.json").string()), 60);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("nested deeper"), std::string::npos) << out;
  ssmlab::test::remove_tree(dir);
}
