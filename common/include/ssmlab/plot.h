// plot.h — every plot ssmlab draws: a PlotSpec rendered by gnuplot (pngcairo).
// Design: the spec is data (series, error bars/bands, log axes, reference lines); render_plot
// writes a self-contained gnuplot script beside the PNG (<png>.gp, data inline) so a figure can
// be restyled by hand, then runs `gnuplot <png>.gp` (posix_spawn, no shell).
// Untrusted text (titles, labels, legends from logs or checkpoints) cannot run anything: every
// string goes through gnuplot_string(); reference-line expressions and the key position are
// checked against a small grammar; the output path may not hold control characters.
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
  int color = 0;        // gnuplot line colour 1, 2, ...; 0 = by the series' position
  bool dashed = false;  // a dashed line (e.g. min/max companions of a mean drawn in the same colour)
};

struct RefLine {
  std::string expr;   // gnuplot expression in x, e.g. "x" or "1e-6*x**2" (numbers, x, math functions)
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
  // Legend position (gnuplot `set key` words). Outside the data by default; the canvas widens by
  // the legend's width. Axes are fitted to the data, an axis whose values are all integers gets
  // integer tics (the values themselves when there are at most 12), every series its own marker.
  std::string key = "outside right top Left reverse";
};

bool gnuplot_available();
// Renders the PNG; throws std::runtime_error with a clear message on failure
// (no gnuplot, empty spec, non-positive values on a log axis, gnuplot error).
void render_plot(const PlotSpec& spec);
// The gnuplot script render_plot would run (for tests and the .gp file). Throws on a reference
// expression outside the grammar, a key position other than words, or a control character in
// the output path.
std::string gnuplot_script(const PlotSpec& spec);
// `s` as a gnuplot string literal that gnuplot takes as plain text: single-quoted (no `command`
// substitution, @macro or backslash processing), quotes doubled, control characters -> spaces.
std::string gnuplot_string(const std::string& s);

}  // namespace ssmlab::plot
