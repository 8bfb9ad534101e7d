// plot.cpp — PlotSpec → gnuplot script → PNG (see plot.h).
#include "ssmlab/plot.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "ssmlab/atomic_file.h"

#if defined(SSMLAB_HAVE_GNUPLOT_IOSTREAM)
#include <gnuplot-iostream.h>
#endif

namespace ssmlab::plot {

namespace {
std::string quote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}
}  // namespace

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

std::string gnuplot_script(const PlotSpec& spec) {
  if (spec.series.empty()) throw std::runtime_error("plot '" + spec.output + "': no series to draw");
  std::ostringstream g;
  g << "# ssmlab plot (written by ssmlab::plot::render_plot); run: gnuplot <this file>\n";
  g << "set terminal pngcairo size " << spec.width << "," << spec.height << " enhanced font 'Sans,12'\n";
  g << "set output " << quote(spec.output) << "\n";
  g << "set title " << quote(spec.title) << " noenhanced\n";  // names keep their underscores
  g << "set xlabel " << quote(spec.xlabel) << " noenhanced\nset ylabel " << quote(spec.ylabel) << " noenhanced\n";
  g << "set grid\nset key " << spec.key << " box opaque\n";
  if (spec.logx) g << "set logscale x\nset format x '10^{%L}'\n";
  if (spec.logy) g << "set logscale y\nset format y '10^{%L}'\n";
  bool bars = false;
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const Series& s = spec.series[i];
    if (s.x.size() != s.y.size()) throw std::runtime_error("plot '" + spec.output + "': series '" + s.title + "' has " + std::to_string(s.x.size()) + " x but " + std::to_string(s.y.size()) + " y values");
    bool need_err = s.style == Style::ErrorBars || s.style == Style::Band;
    if (need_err && s.err.size() != s.y.size()) throw std::runtime_error("plot '" + spec.output + "': series '" + s.title + "' needs one error value per point");
    if (s.style == Style::Bars) bars = true;
    g << "$d" << i << " << EOD\n";
    for (size_t k = 0; k < s.x.size(); ++k) {
      if (!std::isfinite(s.x[k]) || !std::isfinite(s.y[k])) continue;  // gaps, not garbage
      if ((spec.logx && s.x[k] <= 0) || (spec.logy && s.y[k] <= 0)) continue;
      g << num(s.x[k]) << " " << num(s.y[k]) << " " << (need_err ? num(s.err[k]) : "0") << "\n";
    }
    g << "EOD\n";
  }
  if (bars) {
    g << "set style fill solid 0.7 border -1\nset boxwidth 0.8 relative\nset yrange [0:*]\n";
    if (!spec.xtic_labels.empty()) {
      g << "set xtics (";
      for (size_t k = 0; k < spec.xtic_labels.size(); ++k) g << (k ? ", " : "") << quote(spec.xtic_labels[k]) << " " << k;
      g << ") rotate by -30 noenhanced\nset xrange [-0.6:" << spec.xtic_labels.size() - 0.4 << "]\n";
    }
  }
  g << "plot ";
  bool first = true;
  auto sep = [&] { if (!first) g << ", \\\n     "; first = false; };
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const Series& s = spec.series[i];
    std::string d = "$d" + std::to_string(i);
    int lc = static_cast<int>(i) + 1;
    switch (s.style) {
      case Style::Lines: sep(); g << d << " using 1:2 with lines lw 2 lc " << lc << " title " << quote(s.title) << " noenhanced"; break;
      case Style::LinesPoints: sep(); g << d << " using 1:2 with linespoints lw 2 pt 7 lc " << lc << " title " << quote(s.title) << " noenhanced"; break;
      case Style::Points: sep(); g << d << " using 1:2 with points pt 7 lc " << lc << " title " << quote(s.title) << " noenhanced"; break;
      case Style::ErrorBars: sep(); g << d << " using 1:2:3 with yerrorlines lw 2 pt 7 lc " << lc << " title " << quote(s.title) << " noenhanced"; break;
      case Style::Band:
        sep(); g << d << " using 1:($2-$3):($2+$3) with filledcurves fs transparent solid 0.2 noborder lc " << lc << " notitle";
        sep(); g << d << " using 1:2 with linespoints lw 2 pt 7 lc " << lc << " title " << quote(s.title) << " noenhanced";
        break;
      case Style::Bars: sep(); g << d << " using 1:2 with boxes lc " << lc << " title " << quote(s.title) << " noenhanced"; break;
    }
  }
  for (size_t r = 0; r < spec.refs.size(); ++r) {
    sep();
    g << spec.refs[r].expr << " with lines dt 2 lw 2 lc rgb 'gray40' title " << quote(spec.refs[r].title) << " noenhanced";
  }
  g << "\n";
  return g.str();
}

void render_plot(const PlotSpec& spec) {
  namespace fs = std::filesystem;
  if (spec.output.empty()) throw std::runtime_error("plot: no output path");
  std::string script = gnuplot_script(spec);
  fs::path out(spec.output);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  write_file_atomic(spec.output + ".gp", script);
  if (!gnuplot_available())
    throw std::runtime_error("gnuplot is not installed: cannot draw '" + spec.output + "' (script kept at " + spec.output + ".gp)");
  std::string err_path = spec.output + ".gnuplot-err";
  std::error_code ec;
  fs::remove(spec.output, ec);
  {
#if defined(SSMLAB_HAVE_GNUPLOT_IOSTREAM)
    Gnuplot gp("gnuplot 2>'" + err_path + "'");
    gp << script;
    gp.flush();
#else
    FILE* p = ::popen(("gnuplot 2>'" + err_path + "'").c_str(), "w");
    if (!p) throw std::runtime_error("cannot start gnuplot");
    std::fwrite(script.data(), 1, script.size(), p);
    ::pclose(p);
#endif
  }  // gnuplot has exited here (the pipe is closed and waited for)
  std::string err;
  try { err = read_file(err_path); } catch (...) {}
  fs::remove(err_path, ec);
  bool ok = fs::exists(spec.output) && fs::file_size(spec.output) > 0;
  if (!ok || err.find("error") != std::string::npos)
    throw std::runtime_error("gnuplot failed on '" + spec.output + "': " + (err.empty() ? "no image written" : err));
}

}  // namespace ssmlab::plot
