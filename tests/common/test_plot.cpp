#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "log_plot.h"
#include "ssmlab/plot.h"

namespace pl = ssmlab::plot;

TEST(Plot, ScriptHasLabelsLogAxesBandsAndReferenceLines) {
  pl::PlotSpec s;
  s.title = "rank vs N";
  s.xlabel = "state size N";
  s.ylabel = "rank";
  s.output = "/tmp/x.png";
  s.logy = true;
  s.series.push_back({"rank", {1, 2, 3}, {1, 2, 3}, {0.1, 0.1, 0.1}, pl::Style::Band});
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
