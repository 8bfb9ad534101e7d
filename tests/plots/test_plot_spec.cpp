// test_plot_spec — plot_logs' figure features on tiny generated logs, checked on the series and the
// gnuplot script it emits (not on pixels): EMA, bands over seeds (mean ± std, min/max, a later record
// replacing an earlier one, --complete-bands), where filters on text and numbers, bars with labelled
// x tics, split-by, flat-x, titles from the records; and the --spec parser: an unknown key names
// itself, a missing file is an error, an empty selection is skipped with a note, and every
// <family>/plots.json in the tree parses with known keys only.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "tests/common/child_process.h"
#include "plots/log_plot.h"
#include "ssmlab/plot.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
namespace pl = ssmlab::plot;
using nlohmann::json;

namespace {
const std::string kPlot = std::string(SSMLAB_BIN_DIR) + "/plot_logs";

class PlotSpecTest : public ::testing::Test {
 protected:
  void SetUp() override { dir = ssmlab::test::fresh_temp_dir("plot_spec"); }
  void TearDown() override { ssmlab::test::remove_tree(dir); }
  // A log of records {experiment e, record, seed, run_id, timestamp, params, metrics}.
  std::string log(const std::vector<json>& records, const std::string& name = "log.jsonl") {
    std::ofstream f(dir / name);
    int t = 0;
    for (auto r : records) {
      if (!r.contains("experiment")) r["experiment"] = "e";
      if (!r.contains("record")) r["record"] = "result";
      if (!r.contains("timestamp")) r["timestamp"] = "2026-12-01T00:00:" + std::to_string(10 + t++) + "Z";
      f << r.dump() << "\n";
    }
    return (dir / name).string();
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
  std::string slurp(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  pl::Figure figure(const std::string& log_path) {
    pl::Figure f;
    f.q.logs = {log_path};
    f.q.experiment = "e";
    f.plot.output = (dir / "f.png").string();
    return f;
  }
  fs::path dir;
};

json rec(json metrics, json params = json::object(), std::string record = "result") {
  return {{"metrics", std::move(metrics)}, {"params", std::move(params)}, {"record", std::move(record)}};
}
}  // namespace

TEST_F(PlotSpecTest, EmaSmoothsEachSeriesAlongX) {
  EXPECT_EQ(pl::ema({0, 1, 1, 1}, 0.5), (std::vector<double>{0, 0.5, 0.75, 0.875}));
  EXPECT_EQ(pl::ema({3, 1}, 1.0), (std::vector<double>{3, 1}));  // 1 = no smoothing
  // through the figure: points out of x order in the log are smoothed in x order, per series
  const std::string L = log({rec({{"x", 2}, {"y", 1}, {"m", "a"}}), rec({{"x", 1}, {"y", 0}, {"m", "a"}}),
                             rec({{"x", 3}, {"y", 1}, {"m", "a"}}), rec({{"x", 1}, {"y", 4}, {"m", "b"}}),
                             rec({{"x", 2}, {"y", 0}, {"m", "b"}})});
  pl::Figure f = figure(L);
  f.q.x = "x";  // a bare name is looked up under metrics.
  f.q.y = {"y"};
  f.q.group_by = "metrics.m";
  f.q.ema = 0.5;
  auto specs = pl::make_figures(f);
  ASSERT_EQ(specs.size(), 1u);
  ASSERT_EQ(specs[0].series.size(), 2u);
  EXPECT_EQ(specs[0].series[0].y, (std::vector<double>{0, 0.5, 0.75}));
  EXPECT_EQ(specs[0].series[1].y, (std::vector<double>{4, 2}));
  // the binary writes the same points into the script
  auto [rc, out] = ssmlab::test::run_command(kPlot + " --quiet --logs " + L + " --experiment e --x x --y y --group-by metrics.m" +
                                             " --ema 0.5 --output " + (dir / "ema.png").string());
  if (pl::gnuplot_available()) EXPECT_EQ(rc, 0) << out;
  const std::string g = slurp(dir / "ema.png.gp");
  EXPECT_NE(g.find("1 0 0\n2 0.5 0\n3 0.75 0\n"), std::string::npos) << g;
  EXPECT_NE(g.find("1 4 0\n2 2 0\n"), std::string::npos) << g;
  std::tie(rc, out) = ssmlab::test::run_command(kPlot + " --logs " + L + " --experiment e --x x --y y --ema 0 --output " +
                                                (dir / "bad.png").string());
  EXPECT_EQ(rc, 2) << out;
}

TEST_F(PlotSpecTest, BandIsMeanAndStdOverSeedsWithMinMax) {
  // epoch records of two models over seeds; seed 0 of model a at epoch 1 was logged twice (a resumed
  // run): the later value (2) replaces the earlier one (100)
  std::vector<json> rs;
  auto ep = [](const std::string& m, int seed, int epoch, double v) {
    json r = rec({{"model", m}, {"epoch", epoch}, {"val_loss", v}}, json::object(), "epoch");
    r["seed"] = seed;
    return r;
  };
  rs.push_back(ep("a", 0, 1, 100));
  for (auto& [seed, v1, v2] : std::vector<std::tuple<int, double, double>>{{0, 2, 1}, {1, 4, 2}, {2, 6, 6}}) {
    rs.push_back(ep("a", seed, 1, v1));
    rs.push_back(ep("a", seed, 2, v2));
    rs.push_back(ep("b", seed, 1, 10 + seed));
  }
  pl::Figure f = figure(log(rs));
  f.q.record = "epoch";
  f.q.x = "metrics.epoch";
  f.q.y = {"metrics.val_loss"};
  f.q.group_by = "metrics.model";
  f.q.aggregate = "mean_std";
  f.q.band_over = "seed";
  f.q.minmax = true;
  f.style = "band";
  auto specs = pl::make_figures(f);
  ASSERT_EQ(specs.size(), 1u);
  const auto& s = specs[0].series;
  ASSERT_EQ(s.size(), 6u);  // per model: band, min, max
  EXPECT_EQ(s[0].title, "a mean ± std");
  EXPECT_EQ(s[0].style, pl::Style::Band);
  EXPECT_EQ(s[0].x, (std::vector<double>{1, 2}));
  EXPECT_DOUBLE_EQ(s[0].y[0], 4.0);        // mean of 2, 4, 6 (not 100)
  EXPECT_DOUBLE_EQ(s[0].err[0], 2.0);      // sample std of 2, 4, 6
  EXPECT_DOUBLE_EQ(s[0].y[1], 3.0);        // mean of 1, 2, 6
  EXPECT_NEAR(s[0].err[1], std::sqrt(7.0), 1e-12);
  EXPECT_EQ(s[1].title, "a min / max");
  EXPECT_EQ(s[1].y, (std::vector<double>{2, 1}));
  EXPECT_EQ(s[2].title, "");  // the max shares the min's legend entry
  EXPECT_EQ(s[2].y, (std::vector<double>{6, 6}));
  EXPECT_TRUE(s[1].dashed && s[2].dashed);
  EXPECT_EQ(s[0].color, 1);
  EXPECT_EQ(s[2].color, 1);
  EXPECT_EQ(s[3].color, 2);
  EXPECT_EQ(s[3].title, "b mean ± std");
  EXPECT_DOUBLE_EQ(s[3].y[0], 11.0);
  EXPECT_DOUBLE_EQ(s[3].err[0], 1.0);
  const std::string g = pl::gnuplot_script(specs[0]);
  EXPECT_NE(g.find("1 4 2\n2 3 2.645751311\n"), std::string::npos) << g;  // x, mean, std
  EXPECT_NE(g.find("filledcurves"), std::string::npos) << g;
  // --complete-bands: model b lacks seed 3 that model a has
  json extra = ep("a", 3, 1, 4);
  rs.push_back(extra);
  f.q.logs = {log(rs, "gap.jsonl")};
  f.q.complete_bands = true;
  try {
    pl::make_figures(f);
    ADD_FAILURE() << "a missing seed must be an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("b/seed 3"), std::string::npos) << e.what();
  }
}

TEST_F(PlotSpecTest, WhereFiltersCompareTextAndNumbers) {
  const std::string L = log({rec({{"x", 1}, {"y", 1}, {"loss", 0.5}, {"ok", true}}, {{"task", "copy"}}),
                             rec({{"x", 2}, {"y", 2}, {"loss", 0.0}, {"ok", true}}, {{"task", "copy"}}),
                             rec({{"x", 3}, {"y", 3}, {"loss", 2.0}, {"ok", false}}, {{"task", "copy"}}),
                             rec({{"x", 4}, {"y", 4}, {"loss", "n/a"}, {"ok", true}}, {{"task", "lookup"}})});
  auto xs = [&](std::vector<std::string> where) {
    pl::Figure f = figure(L);
    f.q.x = "metrics.x";
    f.q.y = {"metrics.y"};
    f.q.where = std::move(where);
    return pl::make_figures(f).at(0).series.at(0).x;
  };
  EXPECT_EQ(xs({"params.task=copy"}), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(xs({"params.task!=copy"}), (std::vector<double>{4}));
  EXPECT_EQ(xs({"metrics.ok=true"}), (std::vector<double>{1, 2, 4}));  // a bool compares as its JSON text
  EXPECT_EQ(xs({"metrics.loss>0"}), (std::vector<double>{1, 3}));      // a non-number never passes < <= > >=
  EXPECT_EQ(xs({"loss>=0.5", "loss<2"}), (std::vector<double>{1}));
  EXPECT_EQ(xs({"metrics.loss<=0", "params.task=copy"}), (std::vector<double>{2}));
  EXPECT_THROW(xs({"metrics.loss>abc"}), std::runtime_error);
  EXPECT_THROW(xs({"metrics.loss"}), std::runtime_error);
  EXPECT_THROW(xs({"params.task=nothing"}), pl::EmptySelection);
}

TEST_F(PlotSpecTest, BarsWithLabelledXTicsInTheGivenOrder) {
  const std::string L = log({rec({{"s", 0.5}, {"c", 0.9}}, {{"model", "mamba"}}), rec({{"s", 1.0}, {"c", 1.0}}, {{"model", "T_rope"}}),
                             rec({{"s", 0.25}, {"c", 0.75}}, {{"model", "lstm"}})});
  pl::Figure f = figure(L);
  f.q.x = "params.model";
  f.q.x_labels = true;
  f.q.order = {"T_rope", "mamba"};  // the rest after, first-seen
  f.q.y = {"metrics.s", "metrics.c"};
  f.q.y_titles = {"string accuracy", "char accuracy"};
  f.y_styles = {"bars", "points"};
  auto spec = pl::make_figures(f).at(0);
  EXPECT_EQ(spec.xtic_labels, (std::vector<std::string>{"T_rope", "mamba", "lstm"}));
  ASSERT_EQ(spec.series.size(), 2u);
  EXPECT_EQ(spec.series[0].style, pl::Style::Bars);
  EXPECT_EQ(spec.series[0].title, "string accuracy");
  EXPECT_EQ(spec.series[0].x, (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(spec.series[0].y, (std::vector<double>{1.0, 0.5, 0.25}));
  EXPECT_EQ(spec.series[1].style, pl::Style::Points);
  EXPECT_EQ(spec.series[1].y, (std::vector<double>{1.0, 0.9, 0.75}));
  const std::string g = pl::gnuplot_script(spec);
  EXPECT_NE(g.find("set xtics ('T_rope' 0, 'mamba' 1, 'lstm' 2) rotate by -30"), std::string::npos) << g;
  EXPECT_NE(g.find("with boxes"), std::string::npos) << g;
  f.y_styles = {"bars"};  // one style per y
  EXPECT_THROW(pl::make_figures(f), std::runtime_error);
}

TEST_F(PlotSpecTest, SplitByFlatXRefFromAndTitleFromTheRecords) {
  std::vector<json> rs;
  for (const std::string m : {"a", "../b"})
    for (int N : {1, 2, 4}) rs.push_back(rec({{"model", m}, {"N", N}, {"mse", 1.0 / N}}, {{"max-train-len", 8 + N}}, "epoch"));
  rs.push_back(rec({{"model", "T"}, {"N", 0}, {"mse", 0.3}, {"noise", 0.01}}, {{"max-train-len", 3}}));
  rs.push_back(rec({{"model", "a"}, {"N", 1}, {"mse", 0.2}, {"noise", 0.03}}, {{"max-train-len", 3}}));
  const std::string L = log(rs);
  // flat-x: the N-free model T drawn across N = 1..4; ref-from: the mean noise; {max:...} in the title
  pl::Figure f = figure(L);
  f.q.x = "metrics.N";
  f.q.y = {"metrics.mse"};
  f.q.group_by = "metrics.model";
  f.q.flat_x = "0";
  f.ref_from = {"metrics.noise"};
  f.ref_from_titles = {"noise floor"};
  f.plot.title = "trained on lengths <= {max:params.max-train-len}";
  auto all = pl::make_figures(f).at(0);
  EXPECT_EQ(all.title, "trained on lengths <= 12");  // every kind: epoch records go to 12
  f.q.record = "result";
  auto spec = pl::make_figures(f).at(0);
  EXPECT_EQ(spec.title, "trained on lengths <= 3");
  ASSERT_EQ(spec.series.size(), 2u);
  EXPECT_EQ(spec.series[0].title, "T (no N)");
  EXPECT_EQ(spec.series[0].x, (std::vector<double>{1, 1}));  // the range of the others (a: N = 1 only)
  EXPECT_EQ(spec.series[0].style, pl::Style::Lines);
  ASSERT_EQ(spec.refs.size(), 1u);
  EXPECT_EQ(spec.refs[0].expr, "0.02");
  EXPECT_EQ(spec.refs[0].title, "noise floor");
  // split-by: one figure per model, its value in the title and (made safe) in the file name
  pl::Figure c = figure(L);
  c.q.record = "epoch";
  c.q.x = "metrics.N";
  c.q.y = {"metrics.mse"};
  c.split_by = "metrics.model";
  c.plot.title = "curves";
  auto figs = pl::make_figures(c);
  ASSERT_EQ(figs.size(), 2u);
  EXPECT_EQ(figs[0].title, "curves, ../b");
  EXPECT_EQ(fs::path(figs[0].output).parent_path(), dir);
  EXPECT_EQ(fs::path(figs[0].output).filename().string().find("f_"), 0u);
  EXPECT_EQ(fs::path(figs[0].output).filename().string().find('/'), std::string::npos);
  EXPECT_EQ(figs[1].output, (dir / "f_a.png").string());
  EXPECT_EQ(figs[1].series.at(0).y, (std::vector<double>{1, 0.5, 0.25}));
}

// latest_only: {max:PATH} in the title reads the runs drawn, so a value logged once per run (a fitted
// slope, in the "result" record beside the "eval" points) names the run on the figure; an err path ""
// draws no error for that y.
TEST_F(PlotSpecTest, LatestOnlyTitleReadsTheDrawnRun) {
  std::vector<json> rs;
  for (const std::string run : {"old", "new"}) {
    for (int T : {1, 2}) {
      json r = rec({{"T", T}, {"t", run == "old" ? 10.0 * T : 1.0 * T}, {"s", 0.5}}, json::object(), "eval");
      r["run_id"] = run;
      rs.push_back(r);
    }
    json r = rec({{"slope", run == "old" ? 2.5 : 1.25}});
    r["run_id"] = run;
    rs.push_back(r);
  }
  pl::Figure f = figure(log(rs));
  f.q.x = "metrics.T";
  f.q.y = {"metrics.t", "metrics.t"};
  f.q.err = {"metrics.s", ""};
  f.y_styles = {"errorbars", "points"};
  f.plot.title = "slope {max:metrics.slope}";
  EXPECT_EQ(pl::make_figures(f).at(0).title, "slope 2.5");  // every run
  f.q.latest_only = true;
  auto spec = pl::make_figures(f).at(0);
  EXPECT_EQ(spec.title, "slope 1.25");  // the newest run only, as its points
  ASSERT_EQ(spec.series.size(), 2u);
  EXPECT_EQ(spec.series[0].y, (std::vector<double>{1, 2}));
  EXPECT_EQ(spec.series[0].err, (std::vector<double>{0.5, 0.5}));
  EXPECT_EQ(spec.series[1].err, (std::vector<double>{0, 0}));
}

TEST_F(PlotSpecTest, SpecDrawsEveryFigureAndSkipsAnEmptySelectionWithANote) {
  const std::string L = log({rec({{"x", 1}, {"y", 1}}), rec({{"x", 2}, {"y", 500}})});  // over two decades: a log y axis
  const std::string spec = write("plots.json", R"({"family": "t", "figures": [
      {"output": "first", "experiment": "e", "x": "metrics.x", "y": ["metrics.y"], "logy": true, "ref": ["1"]},
      {"output": "empty", "experiment": "nothing_logged", "x": "metrics.x", "y": ["metrics.y"]}]})");
  auto [rc, out] = ssmlab::test::run_command(kPlot + " --spec " + spec + " --logs " + L + " --plot-dir " + (dir / "p").string());
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("note: empty: skipped"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir / "p" / "first.png.gp")) << out;
  EXPECT_FALSE(fs::exists(dir / "p" / "empty.png.gp")) << out;
  EXPECT_NE(slurp(dir / "p" / "first.png.gp").find("set logscale y"), std::string::npos);
  // no figure with records at all: an error
  const std::string none = write("none.json", R"({"figures": [{"output": "x", "experiment": "zz", "x": "a", "y": ["b"]}]})");
  std::tie(rc, out) = ssmlab::test::run_command(kPlot + " --spec " + none + " --logs " + L + " --plot-dir " + (dir / "p").string());
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("no figure of"), std::string::npos) << out;
}

TEST_F(PlotSpecTest, SpecErrorsNameTheirCause) {
  const std::string L = log({rec({{"x", 1}, {"y", 2}})});
  auto run = [&](const std::string& spec_text) {
    return ssmlab::test::run_command(kPlot + " --spec " + write("s.json", spec_text) + " --logs " + L + " --plot-dir " +
                                     (dir / "p").string());
  };
  // an unknown key of a figure: exit 2, naming the key, the spec and the figure
  auto [rc, out] = run(R"({"figures": [{"output": "a", "experiment": "e", "x": "x", "y": ["y"], "colour": "red"}]})");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("'colour'"), std::string::npos) << out;
  EXPECT_NE(out.find("figure 1 (a)"), std::string::npos) << out;
  EXPECT_EQ(out.find("plot_logs_figure_"), std::string::npos) << "no temporary file name in: " << out;
  // an unknown top-level key
  std::tie(rc, out) = run(R"({"family": "t", "figurs": []})");
  EXPECT_EQ(rc, 2) << out;
  std::tie(rc, out) = run(R"({"family": "t", "figures": [], "extra": 1})");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("'extra'"), std::string::npos) << out;
  // a value of the wrong kind, an output that is not a file stem, a missing output
  std::tie(rc, out) = run(R"({"figures": [{"output": "a", "experiment": "e", "x": "x", "y": ["y"], "logy": "yes"}]})");
  EXPECT_EQ(rc, 2) << out;
  std::tie(rc, out) = run(R"({"figures": [{"output": "../a", "experiment": "e", "x": "x", "y": ["y"]}]})");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("file stem"), std::string::npos) << out;
  std::tie(rc, out) = run(R"({"figures": [{"experiment": "e", "x": "x", "y": ["y"]}]})");
  EXPECT_EQ(rc, 2) << out;
  std::tie(rc, out) = run(R"({"figures": [{"output": "a", "x": "x", "y": ["y"]}]})");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--experiment is required"), std::string::npos) << out;
  // a missing spec file, and --spec without --plot-dir
  std::tie(rc, out) = ssmlab::test::run_command(kPlot + " --spec " + (dir / "missing.json").string() + " --logs " + L +
                                                " --plot-dir " + (dir / "p").string());
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("missing.json"), std::string::npos) << out;
  std::tie(rc, out) = ssmlab::test::run_command(kPlot + " --spec " + write("ok.json", R"({"figures": []})") + " --logs " + L);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--plot-dir"), std::string::npos) << out;
}

// Every <family>/plots.json in the tree parses and names only plot_logs' flags: run on a log none of
// whose records they select, each gets past parsing (exit 2 would be a bad key) to "no figure has records".
TEST_F(PlotSpecTest, EveryFamilySpecInTheTreeParses) {
  const std::string L = log({rec({{"x", 1}}, json::object())}, "unrelated.jsonl");
  int specs = 0;
  for (auto& d : fs::directory_iterator(SSMLAB_SOURCE_DIR)) {
    const fs::path spec = d.path() / "plots.json";
    if (!d.is_directory() || !fs::exists(spec)) continue;
    ++specs;
    const json j = json::parse(slurp(spec));
    EXPECT_TRUE(j.contains("family") && j["family"].is_string()) << spec;
    EXPECT_FALSE(j.at("figures").empty()) << spec;
    auto [rc, out] = ssmlab::test::run_command(kPlot + " --spec " + spec.string() + " --logs " + L + " --plot-dir " +
                                               (dir / "p").string());
    EXPECT_EQ(rc, 1) << spec << "\n" << out;
    EXPECT_NE(out.find("no figure of"), std::string::npos) << spec << "\n" << out;
  }
  EXPECT_GE(specs, 4) << "synthetic_tasks, time_series, mamba_experiments, pretrained";
}
