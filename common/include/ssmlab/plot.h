// plot.h — every plot ssmlab draws: a PlotSpec rendered by gnuplot (pngcairo).
// Design: the spec is data (series, error bars/bands, log axes, reference lines); render_plot
// writes a self-contained gnuplot script beside the PNG (<png>.gp, data inline) so a figure can
// be restyled by hand, then pipes it to gnuplot (through gnuplot-iostream when available).
#pragma once

#include <string>
#include <vector>

namespace ssmlab::plot {

enum class Style { Lines, LinesPoints, Points, ErrorBars, Band, Bars };

struct Series {
  std::string title;
  std::vector<double> x, y;
  std::vector<double> err;   // symmetric error (ErrorBars: bars; Band: shaded mean ± err)
  Style style = Style::LinesPoints;
};

struct RefLine {
  std::string expr;   // gnuplot expression in x, e.g. "x" or "1e-6*x**2"
  std::string title;
};

struct PlotSpec {
  std::string title, xlabel, ylabel;
  std::string output;  // .png path; parent folders are created
  bool logx = false, logy = false;
  std::vector<Series> series;
  std::vector<RefLine> refs;
  std::vector<std::string> xtic_labels;  // Bars: one label per x = 0, 1, ...
  int width = 960, height = 640;
  std::string key = "top left";
};

bool gnuplot_available();
// Renders the PNG; throws std::runtime_error with a clear message on failure
// (no gnuplot, empty spec, non-positive values on a log axis, gnuplot error).
void render_plot(const PlotSpec& spec);
// The gnuplot script render_plot would run (for tests and the .gp file).
std::string gnuplot_script(const PlotSpec& spec);

}  // namespace ssmlab::plot
