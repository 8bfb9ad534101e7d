// test_figures — each family's figures, drawn as scripts/reproduce.sh draws them: plot_logs --spec
// <family>/plots.json on fixture logs (time_series, synthetic, pretrained) or on the log of small runs
// (duality), and plot_logs with flags. Every gnuplot script is checked against the
// figure rules (plot.h): legend outside the data, no backslash in any title (a pre-escaped `T\_alibi`
// drawn literally), integer tics on integer x axes, x axes fitted to the data, a marker per series.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "ssmlab/plot.h"

namespace fs = std::filesystem;

namespace {
const std::string kBin = SSMLAB_BIN_DIR;
const std::string kFix = std::string(SSMLAB_FIXTURES_DIR) + "/figures";

std::pair<int, std::string> sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, ""};
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string fresh_dir(const std::string& name) {
  const fs::path d = fs::path(::testing::TempDir()) / ("ssmlab_figures_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// Checks one script against the rules; returns the problems found ("" = none).
std::string check_script(const std::string& g) {
  std::ostringstream bad;
  if (g.find("set key outside") == std::string::npos) bad << "legend not outside the data; ";
  // Titles, labels, legends: no backslash inside a quoted string (gnuplot draws it literally).
  static const std::regex quoted("'((?:[^']|'')*)'");
  for (auto it = std::sregex_iterator(g.begin(), g.end(), quoted); it != std::sregex_iterator(); ++it)
    if ((*it)[1].str().find('\\') != std::string::npos) bad << "backslash in the string " << (*it)[0] << "; ";
  const bool bars = g.find("with boxes") != std::string::npos;
  if (!bars && g.find("set autoscale xfix") == std::string::npos) bad << "x axis not fitted to the data; ";
  // Are all x values integers? (data blocks: "$dK << EOD" ... "EOD", x first on each line)
  bool integral = true, in_data = false;
  std::istringstream is(g);
  std::map<std::string, int> marker_of;  // "lc N pt M" per titled series
  for (std::string line; std::getline(is, line);) {
    if (line.rfind("$d", 0) == 0 && line.find("<< EOD") != std::string::npos) { in_data = true; continue; }
    if (line == "EOD") { in_data = false; continue; }
    if (in_data) {
      const double x = std::stod(line.substr(0, line.find(' ')));
      integral = integral && x == std::floor(x);
      continue;
    }
    const auto pt = line.find(" pt ");
    if (pt != std::string::npos && line.find(" title ") != std::string::npos) {
      const auto lc = line.find(" lc ");
      const std::string key = line.substr(lc, line.find(' ', lc + 4) - lc) + line.substr(pt, line.find(' ', pt + 4) - pt);
      if (marker_of[key]++) bad << "two series share colour and marker (" << key << "); ";
    }
  }
  const bool logx = g.find("set logscale x") != std::string::npos;
  if (!bars && integral && !logx &&
      (g.find("set xtics") == std::string::npos || g.find("set format x '%.0f'") == std::string::npos))
    bad << "integer x axis without integer tics; ";
  return bad.str();
}

// Every PNG in `dir` is non-trivial (when gnuplot exists) and every script passes check_script.
void expect_figures_follow_the_rules(const std::string& dir, size_t at_least) {
  size_t scripts = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".gp") continue;
    ++scripts;
    const std::string g = slurp(e.path());
    EXPECT_EQ(check_script(g), "") << e.path();
    if (ssmlab::plot::gnuplot_available()) {
      fs::path png = e.path();
      png.replace_extension();  // x.png.gp -> x.png
      EXPECT_TRUE(fs::exists(png) && fs::file_size(png) > 5000) << png;
    }
  }
  EXPECT_GE(scripts, at_least) << dir;
}
}  // namespace

TEST(FigureRules, CheckerCatchesEachRuleBroken) {
  // The checker itself must be able to fail: a script written the old way breaks every rule.
  const std::string old_style =
      "set key top right box opaque\nset title 'T\\_alibi'\n$d0 << EOD\n1 1 0\n2 2 0\nEOD\n"
      "plot $d0 using 1:2 with linespoints lw 2 pt 7 lc 1 title 'a', \\\n"
      "     $d0 using 1:2 with linespoints lw 2 pt 7 lc 1 title 'b'\n";
  const std::string why = check_script(old_style);
  for (const char* rule : {"legend not outside", "backslash", "not fitted", "share colour and marker", "integer tics"})
    EXPECT_NE(why.find(rule), std::string::npos) << rule << " in: " << why;
}

// plot_logs --spec <family>/plots.json on a fixture log, into `dir`.
static std::pair<int, std::string> draw_spec(const std::string& family_dir, const std::string& log, const std::string& dir) {
  return sh(kBin + "/plot_logs --spec " + std::string(SSMLAB_SOURCE_DIR) + "/" + family_dir + "/plots.json --logs " + log +
            " --plot-dir " + dir + " --quiet");
}

TEST(FigureRules, TimeSeriesFiguresFromAFixtureLog) {
  const std::string dir = fresh_dir("ts");
  auto [rc, out] = draw_spec("time_series", kFix + "/time_series.jsonl", dir);
  ASSERT_EQ(rc, 0) << out;
  expect_figures_follow_the_rules(dir, 6);  // MSE vs N + one curve per model
  const std::string g = slurp(dir + "/synthetic_decays_val_mse_vs_N.png.gp");
  EXPECT_NE(g.find("set xtics (1, 2, 4)"), std::string::npos) << "N tics at the swept values: " << g;
  EXPECT_NE(g.find("'T_alibi (no N)'"), std::string::npos) << g;
}

TEST(FigureRules, SyntheticFiguresFromAFixtureLog) {
  const std::string dir = fresh_dir("synthetic");
  auto [rc, out] = draw_spec("synthetic_tasks", kFix + "/synthetic.jsonl", dir);
  ASSERT_EQ(rc, 0) << out;
  expect_figures_follow_the_rules(dir, 5);
  // the fixture holds copy runs only: lookup and duplicate n-gram are skipped with a note each
  EXPECT_NE(out.find("note: synthetic_lookup_prefix_ngram: skipped"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir + "/synthetic_duplicate_ngram.png.gp"));
  // the bars name the models, in the paper's order
  EXPECT_NE(slurp(dir + "/synthetic_all_models_final.png.gp").find("set xtics ('T_rope' 0, 'T_hard_alibi' 1, 'mamba' 2, 'lstm' 3)"),
            std::string::npos);
  // the title's training length comes from the log (the quick preset trains on lengths <= 8)
  EXPECT_NE(slurp(dir + "/synthetic_copy_length_generalisation.png.gp").find("trained on lengths <= 8"), std::string::npos);
  // a log without synthetic records: a clear error, not empty figures
  auto [rc2, out2] = draw_spec("synthetic_tasks", kFix + "/time_series.jsonl", dir);
  EXPECT_EQ(rc2, 1) << out2;
  EXPECT_NE(out2.find("no figure of"), std::string::npos) << out2;
}

TEST(FigureRules, DualityFiguresFromSmallRuns) {
  // small runs of the duality binaries into one log, then duality/plots.json on it (as reproduce.sh)
  const std::string dir = fresh_dir("duality"), log = dir + "/duality.jsonl";
  for (const std::string cmd : {"exp3b_rank_vs_state_dim --N-values 1 2 3 4",
                                "exp4_time_scaling --T-values 64 128 256",
                                "exp4_time_scaling --T-values 64 128 256 --end-to-end",
                                "exp4b_time_scaling_errorbars --T-values 64 128 256 --n-trials 2 --n-repeats 2",
                                "exp5b_softmax_rank_growth --T-values 16 32",
                                "exp6_chunked_ssd --T-values 64 128 256"}) {
    auto [rc, out] = sh(kBin + "/" + cmd + " --log " + log + " --quiet");
    ASSERT_EQ(rc, 0) << cmd << "\n" << out;
  }
  auto [rc, out] = draw_spec("duality", log, dir);
  ASSERT_EQ(rc, 0) << out;
  expect_figures_follow_the_rules(dir, 7);  // exp4 twice (end-to-end, multiply only), exp5b twice
  for (const char* f : {"exp3b_rank_vs_state_dim", "exp4_time_scaling", "exp4_time_scaling_multiply_only", "exp4b_time_scaling",
                        "exp5b_rank_growth", "exp5b_rank_growth_gap", "exp6_chunked_ssd"})
    EXPECT_TRUE(fs::exists(dir + "/" + f + ".png.gp")) << f << "\n" << out;
  // the fitted lines and the slopes in the title are the end-to-end run's (its result record)
  std::string slope;
  for (std::istringstream is(slurp(log)); std::getline(is, slope);)
    if (slope.find("\"exp4_time_scaling\"") != std::string::npos && slope.find("\"record\":\"result\"") != std::string::npos &&
        slope.find("\"end_to_end\":true") != std::string::npos) {
      const auto at = slope.find("\"rec_exponent\":") + 15;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6g", std::stod(slope.substr(at)));
      slope = buf;
      break;
    }
  const std::string g4 = slurp(dir + "/exp4_time_scaling.png.gp");
  EXPECT_NE(g4.find("kernel build included); fitted slopes " + slope + " and "), std::string::npos) << slope << "\n" << g4;
  EXPECT_NE(g4.find("'kernel fit'"), std::string::npos) << g4;
  EXPECT_NE(g4.find("set logscale x"), std::string::npos) << g4;
  EXPECT_NE(slurp(dir + "/exp4_time_scaling_multiply_only.png.gp").find("(multiply only)"), std::string::npos);
  // exp6: one line per method, recurrence and the chunk sizes in the given order, then the full kernel
  const std::string g6 = slurp(dir + "/exp6_chunked_ssd.png.gp");
  const auto rec = g6.find("title 'recurrence'"), q16 = g6.find("title 'chunked SSD, Q = 16'"),
             q100 = g6.find("title 'chunked SSD, Q = 100'"), full = g6.find("title 'full T×T kernel, built + multiplied'");
  EXPECT_TRUE(rec != std::string::npos && q16 != std::string::npos && q100 != std::string::npos && full != std::string::npos) << g6;
  EXPECT_TRUE(rec < q16 && q16 < q100 && q100 < full) << g6;
  // exp5b: the reference lines and the title's d_k from the run's params
  const std::string g5 = slurp(dir + "/exp5b_rank_growth.png.gp");
  EXPECT_NE(g5.find("d_k = 16"), std::string::npos) << g5;
  EXPECT_NE(g5.find("y = T/2 (largest possible semiseparable rank)"), std::string::npos) << g5;
}

TEST(FigureRules, PlotLogsFromAFixtureLog) {
  const std::string dir = fresh_dir("plot_logs");
  auto [rc, out] = sh(kBin + "/plot_logs " + kFix + "/duality_exp3b.jsonl --experiment exp3b_rank_vs_state_dim --record eval" +
                      " --x metrics.N --y metrics.rank_mean --err metrics.rank_std --style errorbars --latest-only" +
                      " --ref x --ref-title 'y = N' --output " + dir + "/rank.png --quiet");
  if (!ssmlab::plot::gnuplot_available())  // plot_logs fails without gnuplot, and keeps the script
    ASSERT_EQ(rc, 1) << out;
  else
    ASSERT_EQ(rc, 0) << out;
  expect_figures_follow_the_rules(dir, 1);
}

TEST(FigureRules, PretrainedFiguresFromAFixtureLog) {
  // pretrained/plots.json on a quick-step log (scripts/reproduce.d/50-pretrained.sh): c4_copy, phone_book,
  // squad EM and F1, accuracy vs length with one line per model; pretrained/plot.sh (pretrained/sweep.sh)
  // draws the same through it. Without gnuplot --spec keeps the scripts and exits 0.
  const std::string dir = fresh_dir("pretrained");
  auto [rc, out] = draw_spec("pretrained", kFix + "/pretrained.jsonl", dir);
  ASSERT_EQ(rc, 0) << out;
  expect_figures_follow_the_rules(dir, 4);
  const std::string dir2 = fresh_dir("pretrained_sh");
  std::tie(rc, out) = sh(std::string(SSMLAB_SOURCE_DIR) + "/pretrained/plot.sh " + kFix + "/pretrained.jsonl " + dir2 + " " + kBin);
  ASSERT_EQ(rc, 0) << out;
  expect_figures_follow_the_rules(dir2, 4);
}

// A log y axis gets decade tics only when the data spans two decades; within one decade it would
// have no labelled tic at all (smt_compare's perplexities 49.8k-50.3k), so it is drawn linear; in
// between it gets 1-2-5 tics.
TEST(FigureRules, LogYAxisAlwaysHasLabelledTics) {
  auto script = [](double lo, double hi) {
    ssmlab::plot::PlotSpec spec;
    spec.logy = true;
    spec.output = "/tmp/ssmlab_logy_test.png";
    spec.series.push_back(ssmlab::plot::Series{"a", {1, 2, 3}, {lo, (lo + hi) / 2, hi}});
    return ssmlab::plot::gnuplot_script(spec);
  };
  const std::string narrow = script(49800, 50300), medium = script(3, 60), wide = script(1, 5000);
  EXPECT_EQ(narrow.find("logscale y"), std::string::npos) << narrow;
  EXPECT_NE(medium.find("set logscale y\nset ytics ("), std::string::npos) << medium;
  EXPECT_NE(medium.find("5, 10, 20, 50"), std::string::npos) << medium;
  EXPECT_NE(wide.find("set format y '10^{%L}'"), std::string::npos) << wide;
}
