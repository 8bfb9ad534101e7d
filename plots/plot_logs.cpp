// plot_logs — draws figures from JSONL logs: one figure from its flags, or every figure a spec declares.
//
// One figure (error bars / bands, log axes, reference lines, bars with labelled tics, EMA, filters):
//   plot_logs outputs/logs/duality.jsonl --experiment exp3b_rank_vs_state_dim \
//     --x params.N --y metrics.rank --aggregate mean_std --style band --ref x --ref-title "y = N" --output rank.png
// Every figure of a family (plots/log_plot.h says what each key does):
//   plot_logs --spec time_series/plots.json --logs outputs/logs/time_series.jsonl --plot-dir outputs/plots
// A spec is {"family": "...", "figures": [{...}, ...]}; a figure's keys are this binary's flags with '_'
// for '-' (so each figure can be redrawn by one command), and "output" is the file stem (PNG and the
// kept .gp script go to --plot-dir). A figure whose selection is empty is skipped with a note; a spec
// none of whose figures has records is an error. Without gnuplot, --spec writes the scripts and warns.
#include "ssmlab/main_guard.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "plots/log_plot.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/safe_io.h"

namespace {
using namespace ssmlab::plot;
namespace fs = std::filesystem;

struct Args {
  Figure f;
  std::vector<std::string> refs, ref_titles;
  std::string xtics = "auto", output, spec, plot_dir;
  bool logx = false, logy = false;
};

void declare(ssmlab::Cli& cli, Args& a) {
  LogQuery& q = a.f.q;
  PlotSpec& p = a.f.plot;
  const std::vector<std::string> styles{"lines", "linespoints", "points", "errorbars", "band", "bars"};
  cli.positional("logs");
  cli.add("logs", &q.logs, "JSONL files to read").nonempty();
  cli.add("spec", &a.spec, "figure spec <family>/plots.json: draw every figure it declares into --plot-dir");
  cli.add("plot-dir", &a.plot_dir, "folder of the figures of --spec").check(ssmlab::output_dir_check());
  cli.add("experiment", &q.experiment, "experiment name to select");
  cli.add("record", &q.record, "record kind to select (result, eval, epoch, ...; '' = any)");
  cli.add("where", &q.where, "filters PATH OP VALUE, OP one of = != < <= > >=, e.g. params.end_to_end=true metrics.loss>0");
  cli.add("x", &q.x, "x path, e.g. params.T");
  cli.add("y", &q.y, "y path(s), e.g. metrics.rank");
  cli.add("err", &q.err, "error path(s), one per y (for errorbars/band)");
  cli.add("y-titles", &q.y_titles, "legend titles, one per y");
  cli.add("y-styles", &a.f.y_styles, "styles, one per y (default --style)").one_of(styles);
  cli.add("group-by", &q.group_by, "one series per distinct value of this path");
  cli.add("group-label", &q.group_label, "legend text before each group's value, e.g. 'N = '");
  cli.add("order", &q.order, "these group values (and x categories) first, in this order");
  cli.add("split-by", &a.f.split_by, "one figure per distinct value of this path (output and title get the value)");
  cli.add("aggregate", &q.aggregate, "points sharing x: none|mean_std|mean_ci95").one_of({"none", "mean_std", "mean_ci95"});
  cli.add("band-over", &q.band_over, "aggregate over the values of this path (e.g. seed), a later record replacing an earlier one");
  cli.flag("minmax", &q.minmax, "also draw the min and max over the aggregated values, dashed");
  cli.flag("complete-bands", &q.complete_bands, "error when a series lacks a --band-over value another series has");
  cli.flag("latest-only", &q.latest_only, "keep only the newest run per series");
  cli.add("ema", &q.ema, "EMA weight of the newest point along x (1 = no smoothing)").greater_than(0.0).at_most(1.0);
  cli.add("flat-x", &q.flat_x, "a series whose x are all this number is drawn flat across the x range, '(no <x>)'");
  cli.add("xtics", &a.xtics, "auto, or labels: x holds categories drawn at 0, 1, ... with their text").one_of({"auto", "labels"});
  cli.add("style", &a.f.style, "lines|linespoints|points|errorbars|band|bars").one_of(styles);
  cli.add("title", &p.title, "plot title; {max:PATH} / {min:PATH} become that value over the records");
  cli.add("xlabel", &p.xlabel, "x-axis label (with units)");
  cli.add("ylabel", &p.ylabel, "y-axis label (with units)");
  cli.flag("logx", &a.logx, "logarithmic x axis");
  cli.flag("logy", &a.logy, "logarithmic y axis");
  cli.add("ref", &a.refs, "reference line(s), gnuplot expressions in x (e.g. x)");
  cli.add("ref-title", &a.ref_titles, "legend title(s) of the reference lines");
  cli.add("ref-from", &a.f.ref_from, "reference line(s) at the mean of these paths over the experiment's records (any kind)");
  cli.add("ref-from-title", &a.f.ref_from_titles, "legend title(s) of the --ref-from lines");
  cli.add("output", &a.output, "PNG path (one figure)").check(ssmlab::output_file_check());
}

// Fills the figure's derived fields; throws UsageError when a required flag is missing.
Figure finish(Args& a) {
  for (auto [name, empty] : {std::pair{"experiment", a.f.q.experiment.empty()}, {"x", a.f.q.x.empty()},
                             {"y", a.f.q.y.empty()}, {"output", a.output.empty()}})
    if (empty) throw ssmlab::UsageError(std::string("--") + name + " is required (or give --spec)");
  Figure f = a.f;
  f.q.x_labels = a.xtics == "labels";
  f.plot.output = a.output;
  f.plot.logx = a.logx;
  f.plot.logy = a.logy;
  if (f.plot.xlabel.empty()) f.plot.xlabel = f.q.x;
  if (f.plot.ylabel.empty()) f.plot.ylabel = f.q.y.front();
  if (f.plot.title.empty()) f.plot.title = f.q.experiment;
  for (size_t i = 0; i < a.refs.size(); ++i)
    f.plot.refs.push_back({a.refs[i], i < a.ref_titles.size() ? a.ref_titles[i] : a.refs[i]});
  return f;
}

// The figure `j` (figure `index` of `spec`) parsed by the same flags as the command line: the figure
// goes through --config (a temporary JSON file), so a key is valid exactly when it is a flag.
Figure parse_figure(const nlohmann::json& j, size_t index, const std::string& spec, const std::vector<std::string>& logs,
                    const std::string& plot_dir) {
  const std::string where = "'" + spec + "' figure " + std::to_string(index + 1);
  if (!j.is_object()) throw ssmlab::UsageError(where + ": must be a JSON object");
  if (!j.contains("output") || !j["output"].is_string() || j["output"].get<std::string>().empty())
    throw ssmlab::UsageError(where + ": needs \"output\", the file stem");
  const std::string stem = j["output"];
  if (ssmlab::safe_file_name(stem) != stem)
    throw ssmlab::UsageError(where + ": output '" + ssmlab::printable(stem) + "' must be a file stem of [A-Za-z0-9._-]");
  nlohmann::json rest = j;
  rest.erase("output");
  for (const char* k : {"spec", "plot_dir", "plot-dir", "logs"})
    if (rest.contains(k)) throw ssmlab::UsageError(where + " (" + stem + "): \"" + k + "\" belongs on the command line");
  std::string tmp = (fs::temp_directory_path() / "plot_logs_figure_XXXXXX.json").string();
  const int fd = ::mkstemps(tmp.data(), 5);
  if (fd < 0) throw std::runtime_error("plot_logs: cannot create a temporary file in " + fs::temp_directory_path().string());
  ::close(fd);
  struct Remove { std::string p; ~Remove() { std::error_code ec; fs::remove(p, ec); } } remove{tmp};
  ssmlab::write_file_atomic(tmp, rest.dump());
  std::vector<std::string> argv{"plot_logs", "--config", tmp, "--output", (fs::path(plot_dir) / (stem + ".png")).string(), "--logs"};
  argv.insert(argv.end(), logs.begin(), logs.end());
  std::vector<const char*> cargv;
  for (auto& s : argv) cargv.push_back(s.c_str());
  Args a;
  ssmlab::Cli cli("plot_logs", "", "tools");
  declare(cli, a);
  try {
    cli.parse(static_cast<int>(cargv.size()), cargv.data());
    return finish(a);
  } catch (const ssmlab::UsageError& e) {
    std::string m = e.what();
    for (size_t at; (at = m.find("'" + tmp + "'")) != std::string::npos;) m.replace(at, tmp.size() + 2, where + " (" + stem + ")");
    if (m.rfind("--config: ", 0) == 0) m = m.substr(10);
    throw ssmlab::UsageError(m);
  }
}

// Draws every figure of the spec; returns the exit code.
int draw_spec(const Args& a, bool quiet) {
  if (a.plot_dir.empty()) throw ssmlab::UsageError("--spec needs --plot-dir");
  if (!a.f.q.experiment.empty() || !a.f.q.x.empty() || !a.f.q.y.empty() || !a.output.empty())
    throw ssmlab::UsageError("--spec draws the figures the spec declares: --experiment, --x, --y and --output belong to one figure without it");
  nlohmann::json spec;
  try {
    spec = ssmlab::read_json_file(a.spec);
  } catch (const std::exception& e) {
    throw ssmlab::UsageError(std::string("--spec: ") + e.what());
  }
  if (!spec.is_object() || !spec.contains("figures") || !spec["figures"].is_array())
    throw ssmlab::UsageError("--spec '" + a.spec + "' must hold {\"family\": ..., \"figures\": [...]}");
  for (auto& [k, v] : spec.items())
    if (k != "family" && k != "figures" && k.rfind("//", 0) != 0 && k != "_comment" && k != "description")
      throw ssmlab::UsageError("--spec '" + a.spec + "': unknown key '" + ssmlab::printable(k) + "' (expected family, figures)");
  std::vector<Figure> figures;  // all parsed before any is drawn: a bad key fails fast
  for (size_t i = 0; i < spec["figures"].size(); ++i) figures.push_back(parse_figure(spec["figures"][i], i, a.spec, a.f.q.logs, a.plot_dir));
  const bool gnuplot = gnuplot_available();
  int drawn = 0, failed = 0;
  for (const auto& f : figures) {
    const std::string stem = fs::path(f.plot.output).stem().string();
    std::vector<PlotSpec> specs;
    try {
      specs = make_figures(f);
    } catch (const EmptySelection& e) {
      std::cerr << "note: " << stem << ": skipped, " << e.what() << "\n";
      continue;
    } catch (const std::exception& e) {
      std::cerr << "error: " << stem << ": " << e.what() << "\n";
      ++failed;
      continue;
    }
    for (const auto& s : specs) {
      try {
        if (gnuplot) {
          render_plot(s);
        } else {
          ssmlab::write_file_atomic(s.output + ".gp", gnuplot_script(s));
          std::cerr << "warning: gnuplot is not installed: " << s.output << " not drawn (script " << s.output << ".gp)\n";
        }
        ++drawn;
        if (!quiet && gnuplot) std::cout << "plot_logs: wrote " << s.output << "\n";
      } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        ++failed;
      }
    }
  }
  if (drawn == 0 && failed == 0) {
    std::cerr << "error: no figure of " << a.spec << " has records in the given logs\n";
    return 1;
  }
  return failed ? 1 : 0;
}
}  // namespace

static int ssmlab_main(int argc, char** argv) {
  Args a;
  ssmlab::Cli cli("plot_logs", "Renders PNGs (gnuplot, pngcairo) from records in JSONL logs: one figure, or every figure of --spec.",
                  "tools");
  declare(cli, a);
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
  if (!a.spec.empty()) return draw_spec(a, opts.quiet);
  const Figure f = finish(a);
  try {
    for (const auto& s : make_figures(f)) {
      render_plot(s);
      if (!opts.quiet) std::cout << "plot_logs: wrote " << s.output << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
