// plot_logs — draws a line plot (error bars / bands, log axes, reference lines) from JSONL logs.
// Example: plot_logs outputs/logs/duality.jsonl --experiment exp3b_rank_vs_state_dim \
//            --x params.N --y metrics.rank --aggregate mean_std --style band --ref x --ref-title "y = N"
#include "ssmlab/main_guard.h"
#include <iostream>

#include "log_plot.h"
#include "ssmlab/cli.h"

static int ssmlab_main(int argc, char** argv) {
  using namespace ssmlab::plot;
  LogQuery q;
  PlotSpec spec;
  std::string style = "linespoints", output;
  std::vector<std::string> refs, ref_titles;
  bool logx = false, logy = false;
  ssmlab::Cli cli("plot_logs", "Renders a PNG (gnuplot, pngcairo) from records of one experiment in JSONL logs.", "tools");
  cli.positional("logs");
  cli.add("logs", &q.logs, "JSONL files to read").nonempty();
  cli.add("experiment", &q.experiment, "experiment name to select").nonempty();
  cli.add("record", &q.record, "record kind to select (result, eval, epoch, ...; '' = any)");
  cli.add("where", &q.where, "filters PATH=VALUE, e.g. params.end_to_end=true");
  cli.add("x", &q.x, "x path, e.g. params.T").nonempty();
  cli.add("y", &q.y, "y path(s), e.g. metrics.rank").nonempty();
  cli.add("err", &q.err, "error path(s), one per y (for errorbars/band)");
  cli.add("y-titles", &q.y_titles, "legend titles, one per y");
  cli.add("group-by", &q.group_by, "one series per distinct value of this path");
  cli.add("aggregate", &q.aggregate, "points sharing x: none|mean_std|mean_ci95").one_of({"none", "mean_std", "mean_ci95"});
  cli.flag("latest-only", &q.latest_only, "keep only the newest run per series");
  cli.add("style", &style, "lines|linespoints|points|errorbars|band|bars").one_of({"lines", "linespoints", "points", "errorbars", "band", "bars"});
  cli.add("title", &spec.title, "plot title");
  cli.add("xlabel", &spec.xlabel, "x-axis label (with units)");
  cli.add("ylabel", &spec.ylabel, "y-axis label (with units)");
  cli.flag("logx", &logx, "logarithmic x axis");
  cli.flag("logy", &logy, "logarithmic y axis");
  cli.add("ref", &refs, "reference line(s), gnuplot expressions in x (e.g. x)");
  cli.add("ref-title", &ref_titles, "legend title(s) of the reference lines");
  cli.add("output", &output, "PNG path").nonempty().check(ssmlab::output_file_check());
  auto opts = cli.parse_or_exit(argc, argv);
  spec.output = output;
  spec.logx = logx;
  spec.logy = logy;
  if (spec.xlabel.empty()) spec.xlabel = q.x;
  if (spec.ylabel.empty()) spec.ylabel = q.y.front();
  if (spec.title.empty()) spec.title = q.experiment;
  for (size_t i = 0; i < refs.size(); ++i) spec.refs.push_back({refs[i], i < ref_titles.size() ? ref_titles[i] : refs[i]});
  Style st = style == "lines" ? Style::Lines : style == "points" ? Style::Points : style == "errorbars" ? Style::ErrorBars
           : style == "band" ? Style::Band : style == "bars" ? Style::Bars : Style::LinesPoints;
  try {
    add_series_from_logs(q, st, spec);
    render_plot(spec);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  if (!opts.quiet) std::cout << "plot_logs: wrote " << spec.output << "\n";
  return 0;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
