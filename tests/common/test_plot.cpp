#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "plots/log_plot.h"
#include "ssmlab/plot.h"

namespace pl = ssmlab::plot;

TEST(Plot, ScriptHasLabelsLogAxesBandsAndReferenceLines) {
  pl::PlotSpec s;
  s.title = "rank vs N";
  s.xlabel = "state size N";
  s.ylabel = "rank";
  s.output = "/tmp/x.png";
  s.logy = true;
  s.series.push_back({"rank", {1, 2, 3}, {1, 30, 300}, {0.1, 0.1, 0.1}, pl::Style::Band});
  s.refs.push_back({"x", "y = N"});
  auto g = pl::gnuplot_script(s);
  EXPECT_NE(g.find("set xlabel 'state size N'"), std::string::npos);
  EXPECT_NE(g.find("set logscale y"), std::string::npos);
  EXPECT_NE(g.find("filledcurves"), std::string::npos);
  EXPECT_NE(g.find("title 'y = N'"), std::string::npos);
  s.series[0].err.clear();
  EXPECT_THROW(pl::gnuplot_script(s), std::runtime_error);  // a band needs errors
}

TEST(PlotLogs, RendersPngFromFixtureLog) {
  if (!pl::gnuplot_available()) GTEST_SKIP() << "gnuplot not installed";
  std::string out = ::testing::TempDir() + "/ssmlab_plot_" + std::to_string(::getpid()) + ".png";
  std::string cmd = std::string(SSMLAB_BIN_DIR) + "/plot_logs " + SSMLAB_FIXTURES_DIR +
                    "/common/rank_log.jsonl --experiment exp3b_rank_vs_state_dim --x params.N --y metrics.rank"
                    " --aggregate mean_std --style band --ref x --ref-title 'y = N' --xlabel 'state size N'"
                    " --ylabel 'semiseparable rank' --output " + out + " --quiet";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ASSERT_TRUE(std::filesystem::exists(out));
  EXPECT_GT(std::filesystem::file_size(out), 5000u);  // a real image, not an empty file
  // Selecting nothing is a clear error, not an empty plot.
  std::string none = std::string(SSMLAB_BIN_DIR) + "/plot_logs " + SSMLAB_FIXTURES_DIR +
                     "/common/rank_log.jsonl --experiment nope --x params.N --y metrics.rank --output " + out + " 2>/dev/null";
  EXPECT_NE(std::system(none.c_str()), 0);
}

TEST(PlotLogs, AggregatesRepeatsIntoMeanAndStd) {
  pl::LogQuery q;
  q.logs = {std::string(SSMLAB_FIXTURES_DIR) + "/common/rank_log.jsonl"};
  q.experiment = "exp3b_rank_vs_state_dim";
  q.x = "params.N";
  q.y = {"metrics.rank"};
  q.aggregate = "mean_std";
  pl::PlotSpec spec;
  pl::add_series_from_logs(q, pl::Style::Band, spec);
  ASSERT_EQ(spec.series.size(), 1u);
  const auto& s = spec.series[0];
  ASSERT_EQ(s.x, (std::vector<double>{1, 2, 4}));
  EXPECT_DOUBLE_EQ(s.y[2], 4.0);       // N=4: ranks 4, 4
  EXPECT_DOUBLE_EQ(s.y[1], 1.5);       // N=2: ranks 1, 2
  EXPECT_NEAR(s.err[1], std::sqrt(0.5), 1e-12);
}

// ---- figure rules (issue 15): legend outside the data, integer tics on integer axes, axes fitted
// to the data, a marker per series, overlapping series kept visible ----------------------------
namespace {
pl::PlotSpec rules_spec() {
  pl::PlotSpec s;
  s.title = "t";
  s.xlabel = "state size N";
  s.ylabel = "mse";
  s.output = "/tmp/rules.png";
  s.logy = true;
  s.series.push_back({"a", {1, 2, 4}, {0.5, 0.1, 0.01}, {}, pl::Style::LinesPoints});
  s.series.push_back({"b", {1, 2, 4}, {0.9, 0.8, 0.7}, {}, pl::Style::LinesPoints});
  return s;
}
bool has(const std::string& g, const std::string& what) { return g.find(what) != std::string::npos; }
}  // namespace

TEST(PlotRules, LegendOutsideTheDataAndTheCanvasGrowsByItsWidth) {
  pl::PlotSpec s = rules_spec();
  auto g = pl::gnuplot_script(s);
  EXPECT_TRUE(has(g, "set key outside right top")) << g;
  EXPECT_FALSE(has(g, "size 960,")) << "the canvas should widen by the legend";
  s.series[0].title = std::string(40, 'x');
  auto wide = pl::gnuplot_script(s);
  auto width = [](const std::string& script) { return std::stoi(script.substr(script.find("size ") + 5)); };
  EXPECT_GT(width(wide), width(g));
}

TEST(PlotRules, IntegerAxesGetIntegerTicsAtTheDataOrAnIntegerStep) {
  pl::PlotSpec s = rules_spec();
  auto g = pl::gnuplot_script(s);
  EXPECT_TRUE(has(g, "set xtics (1, 2, 4)")) << g;  // N = 1, 2, 4: no 1.5, 2.5, 3.5
  EXPECT_TRUE(has(g, "set format x '%.0f'"));
  // many integers (steps 0..1500): an integer step, never fractional
  s.series = {{"loss", {}, {}, {}, pl::Style::Lines}};
  for (int k = 0; k <= 30; ++k) s.series[0].x.push_back(50.0 * k), s.series[0].y.push_back(1.0 / (k + 1));
  g = pl::gnuplot_script(s);
  EXPECT_TRUE(has(g, "set xtics 200\n")) << g;
  // fractional x: gnuplot's own tics
  s.series[0].x[3] = 150.5;
  g = pl::gnuplot_script(s);
  EXPECT_FALSE(has(g, "set xtics")) << g;
}

TEST(PlotRules, ShortLogAxesGetOneTwoFiveTicsAndAxesFitTheData) {
  pl::PlotSpec s = rules_spec();
  s.logx = true;
  s.logy = false;
  s.series = {{"acc", {}, {}, {}, pl::Style::LinesPoints}};
  for (int k = 1; k <= 10; ++k) s.series[0].x.push_back(15761.0 * k), s.series[0].y.push_back(0.1 * k);  // crowded at the right
  auto g = pl::gnuplot_script(s);
  EXPECT_TRUE(has(g, "set xtics (20000, 50000, 100000)")) << g;
  EXPECT_TRUE(has(g, "set autoscale xfix")) << g;  // no axis to the next decade
  EXPECT_TRUE(has(g, "set offsets graph"));        // points and reference lines clear of the border
  // bars keep their own x range
  s.series = {{"acc", {0, 1}, {0.5, 1}, {}, pl::Style::Bars}};
  s.xtic_labels = {"T_rope", "mamba"};
  s.logx = false;
  g = pl::gnuplot_script(s);
  EXPECT_FALSE(has(g, "autoscale xfix"));
  EXPECT_TRUE(has(g, "set xrange [-0.6:"));
}

TEST(PlotRules, EverySeriesItsOwnMarkerAndAnOverlappingSeriesStaysVisible) {
  pl::PlotSpec s = rules_spec();
  s.series.push_back({"c (same as a)", {1, 2, 4}, {0.5, 0.1, 0.01 * (1 + 1e-4)}, {}, pl::Style::LinesPoints});
  s.refs = {{"1e-3", "floor"}, {"1e-2", "other"}};
  auto g = pl::gnuplot_script(s);
  std::set<std::string> markers;
  std::istringstream is(g);
  for (std::string line; std::getline(is, line);) {
    auto p = line.find(" pt ");
    if (p != std::string::npos) markers.insert(line.substr(p, line.find(" ps", p) - p));
  }
  EXPECT_EQ(markers.size(), 3u) << g;
  EXPECT_TRUE(has(g.substr(g.find("$d2 using")), "dt 2")) << "the series hiding 'a' is dashed: " << g;
  EXPECT_FALSE(has(g.substr(g.find("$d0 using"), g.find("$d1 using") - g.find("$d0 using")), "dt 2")) << g;
  EXPECT_TRUE(has(g, "with lines dt 2 lw 2 lc rgb 'gray30' title 'floor'")) << g;
  EXPECT_TRUE(has(g, "with lines dt 4 lw 2 lc rgb 'gray50' title 'other'")) << g;
}
