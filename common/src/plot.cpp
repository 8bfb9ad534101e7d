// plot.cpp — PlotSpec → gnuplot script → PNG (see plot.h).
#include "ssmlab/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

extern char** environ;

#include "ssmlab/atomic_file.h"
#include "ssmlab/safe_io.h"

namespace ssmlab::plot {

namespace {
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}
}  // namespace

std::string gnuplot_string(const std::string& s) {
  // Single quotes: gnuplot expands neither backslash escapes, nor `command` substitution, nor
  // @macros inside them (it does run `command` inside double quotes); the only special character
  // is the quote itself, doubled. A newline would end the command (and start a new one, such as
  // system '...'), so every control character becomes a space.
  std::string q = "'";
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) q += ' ';
    else if (c == '\'') q += "''";
    else q += c;
  }
  return q + "'";
}

namespace {
void check_expression(const std::string& expr) {
  // Reference lines are gnuplot expressions in x: numbers, x, a few math functions, operators.
  // Anything else (system(), strings, `...`, @macros, ';', newlines) is refused.
  static const char* kNames[] = {"x", "pi", "exp", "log", "log10", "sqrt", "abs", "sin", "cos", "tan",
                                 "atan", "sinh", "cosh", "tanh", "floor", "ceil", "int", "sgn", "min", "max"};
  auto bad = [&](const std::string& why) {
    throw std::runtime_error("plot: reference line expression '" + printable(expr) + "' " + why +
                             " (allowed: numbers, x, + - * / ** ( ) , and exp log log10 sqrt abs sin cos tan ...)");
  };
  if (expr.empty()) bad("is empty");
  for (size_t i = 0; i < expr.size();) {
    unsigned char c = static_cast<unsigned char>(expr[i]);
    if (std::isdigit(c) || (c == '.' && i + 1 < expr.size() && std::isdigit(static_cast<unsigned char>(expr[i + 1])))) {
      while (i < expr.size() && (std::isdigit(static_cast<unsigned char>(expr[i])) || expr[i] == '.')) ++i;
      if (i < expr.size() && (expr[i] == 'e' || expr[i] == 'E')) {
        ++i;
        if (i < expr.size() && (expr[i] == '+' || expr[i] == '-')) ++i;
        if (i >= expr.size() || !std::isdigit(static_cast<unsigned char>(expr[i]))) bad("has a malformed number");
        while (i < expr.size() && std::isdigit(static_cast<unsigned char>(expr[i]))) ++i;
      }
    } else if (std::isalpha(c) || c == '_') {
      size_t j = i;
      while (j < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[j])) || expr[j] == '_')) ++j;
      std::string name = expr.substr(i, j - i);
      bool ok = false;
      for (auto* n : kNames) ok = ok || name == n;
      if (!ok) bad("uses '" + name + "', which is not x or an allowed function");
      i = j;
    } else if (std::strchr("+-*/(), ", static_cast<char>(c)) && c != 0) {
      ++i;
    } else {
      bad("contains '" + printable(std::string(1, static_cast<char>(c))) + "'");
    }
  }
}

std::vector<double> distinct_x(const PlotSpec& spec) {
  std::vector<double> xs;
  for (const auto& s : spec.series)
    for (double v : s.x)
      if (std::isfinite(v) && !(spec.logx && v <= 0)) xs.push_back(v);
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  return xs;
}

// A 1-2-5 step (at least 1) that puts about eight tics on an integer axis of this span.
double integer_tic_step(double span) {
  const double raw = std::max(1.0, span / 8.0);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

// True when series `i` lies on an earlier series at every point (within 1 % of the axis span, in
// log units on a log axis): drawn solid on top, it would hide that series, so it is drawn dashed
// with larger open markers.
bool hides_an_earlier_series(const PlotSpec& spec, size_t i) {
  auto t = [](double v, bool log) { return log ? (v > 0 ? std::log10(v) : NAN) : v; };
  double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
  for (const auto& s : spec.series)
    for (size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
      const double v[2] = {t(s.x[k], spec.logx), t(s.y[k], spec.logy)};
      for (int a = 0; a < 2; ++a)
        if (std::isfinite(v[a])) lo[a] = std::min(lo[a], v[a]), hi[a] = std::max(hi[a], v[a]);
    }
  const Series& s = spec.series[i];
  if (s.x.empty() || s.x.size() != s.y.size()) return false;
  auto near = [&](double a, double b, int axis, bool log) {
    const double span = hi[axis] > lo[axis] ? hi[axis] - lo[axis] : 1.0;
    return std::fabs(t(a, log) - t(b, log)) <= 0.01 * span;
  };
  for (size_t j = 0; j < i; ++j) {
    const Series& o = spec.series[j];
    if (o.x.size() != s.x.size() || o.y.size() != s.y.size()) continue;
    bool same = true;
    for (size_t k = 0; k < s.x.size() && same; ++k)
      same = near(s.x[k], o.x[k], 0, spec.logx) && near(s.y[k], o.y[k], 1, spec.logy);
    if (same) return true;
  }
  return false;
}

// A relative script path as "./path", so a name starting with '-' is not read as an option.
std::string script_path_arg(const std::string& p) { return p.empty() || p[0] == '/' ? p : "./" + p; }
}  // namespace

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

std::string gnuplot_script(const PlotSpec& spec) {
  if (spec.series.empty()) throw std::runtime_error("plot '" + spec.output + "': no series to draw");
  std::ostringstream g;
  g << "# ssmlab plot (written by ssmlab::plot::render_plot); run: gnuplot <this file>\n";
  // The legend sits outside the data, right of it by default: the canvas grows by the legend's
  // width so that the plot area keeps its size.
  int width = spec.width;
  if (spec.key.find("outside") != std::string::npos && spec.key.find("below") == std::string::npos &&
      spec.key.find("left") == std::string::npos) {
    size_t longest = 0;
    auto chars = [](const std::string& t) {
      size_t n = 0;
      for (unsigned char c : t) n += (c & 0xC0) != 0x80;  // UTF-8 code points
      return n;
    };
    for (const auto& s : spec.series) longest = std::max(longest, chars(s.title));
    for (const auto& r : spec.refs) longest = std::max(longest, chars(r.title));
    width += static_cast<int>(std::min<size_t>(longest, 60) * 9 + 110);
  }
  g << "set terminal pngcairo size " << width << "," << spec.height << " enhanced font 'Sans,12'\n";
  for (char c : spec.output)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      throw std::runtime_error("plot: output path '" + printable(spec.output) + "' contains a control character");
  for (char c : spec.key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != ' ')
      throw std::runtime_error("plot: key position '" + printable(spec.key) + "' may hold only letters, digits and spaces");
  for (const auto& r : spec.refs) check_expression(r.expr);
  g << "set output " << gnuplot_string(spec.output) << "\n";
  g << "set title " << gnuplot_string(spec.title) << " noenhanced\n";  // names keep their underscores
  g << "set xlabel " << gnuplot_string(spec.xlabel) << " noenhanced\nset ylabel " << gnuplot_string(spec.ylabel) << " noenhanced\n";
  g << "set grid\nset key " << spec.key << " box opaque\n";
  if (spec.logx) g << "set logscale x\nset format x '10^{%L}'\n";
  if (spec.logy) {
    // Decade tics label a log axis; data within less than one decade would get none (a y axis of
    // perplexities 49.8k-50.3k showed no number at all), so such an axis is drawn linear, and one
    // within two decades gets 1-2-5 tics.
    double lo = INFINITY, hi = 0;
    for (const auto& s : spec.series)
      for (double v : s.y)
        if (v > 0 && std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    if (!(hi > 0) || hi / lo >= 100) {
      g << "set logscale y\nset format y '10^{%L}'\n";
    } else if (hi / lo >= 10) {
      g << "set logscale y\nset ytics (";
      bool first = true;
      for (double p = std::pow(10.0, std::floor(std::log10(lo))); p <= hi * 10; p *= 10)
        for (double m : {1.0, 2.0, 5.0})
          if (m * p >= lo * (1 - 1e-12) / 1.2 && m * p <= hi * (1 + 1e-12) * 1.2) g << (first ? "" : ", ") << num(m * p), first = false;
      g << ")\nset format y '%g'\n";
    }
  }
  bool bars = false;
  for (const auto& s : spec.series) bars = bars || s.style == Style::Bars;
  if (!bars) {
    // Axes fitted to the data (gnuplot would extend a log axis to the next decade: data to 2000
    // drawn on an axis to 10^4), with a margin so that points and reference lines at the extremes
    // do not sit on the border.
    g << "set autoscale xfix\nset autoscale yfix\nset offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05\n";
    // Integer axes (N, T, steps, n) get integer tics: the data's own values when there are few.
    const std::vector<double> xs = distinct_x(spec);
    bool integral = !xs.empty();
    for (double v : xs) integral = integral && v == std::floor(v) && std::fabs(v) < 1e15;
    // The data's own values as tics when there are few and they do not crowd each other (at
    // least 1/16 of the axis apart, in log units on a log axis).
    bool spread = xs.size() >= 2 && xs.size() <= 12;
    for (size_t k = 1; spread && k < xs.size(); ++k) {
      auto u = [&](double v) { return spec.logx ? std::log10(v) : v; };
      spread = (u(xs[k]) - u(xs[k - 1])) >= (u(xs.back()) - u(xs.front())) / 16.0;
    }
    if (integral && (spread || xs.size() == 1)) {
      g << "set xtics (";
      for (size_t k = 0; k < xs.size(); ++k) g << (k ? ", " : "") << num(xs[k]);
      g << ")\nset format x '%.0f'\nset mxtics default\n";
    } else if (spec.logx && xs.size() >= 2 && xs.front() > 0 && xs.back() / xs.front() < 100) {
      // A log axis over less than two decades would show one or two decade tics: 1-2-5 tics instead.
      std::vector<double> tics;
      for (double p = std::pow(10.0, std::floor(std::log10(xs.front()))); p <= xs.back(); p *= 10)
        for (double m : {1.0, 2.0, 5.0})
          if (m * p >= xs.front() * (1 - 1e-12) && m * p <= xs.back() * (1 + 1e-12)) tics.push_back(m * p);
      if (tics.size() >= 2) {
        g << "set xtics (";
        for (size_t k = 0; k < tics.size(); ++k) g << (k ? ", " : "") << num(tics[k]);
        g << ")\nset format x '%g'\n";
      }
    } else if (integral && !spec.logx) {
      const double step = integer_tic_step(xs.back() - xs.front());
      g << "set xtics " << num(step) << "\nset format x '%.0f'\n";
    }
  }
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const Series& s = spec.series[i];
    if (s.x.size() != s.y.size()) throw std::runtime_error("plot '" + spec.output + "': series '" + printable(s.title) + "' has " + std::to_string(s.x.size()) + " x but " + std::to_string(s.y.size()) + " y values");
    bool need_err = s.style == Style::ErrorBars || s.style == Style::Band;
    if (need_err && s.err.size() != s.y.size()) throw std::runtime_error("plot '" + spec.output + "': series '" + printable(s.title) + "' needs one error value per point");
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
      for (size_t k = 0; k < spec.xtic_labels.size(); ++k) g << (k ? ", " : "") << gnuplot_string(spec.xtic_labels[k]) << " " << k;
      g << ") rotate by -30 noenhanced\nset xrange [-0.6:" << spec.xtic_labels.size() - 0.4 << "]\n";
    }
  }
  g << "plot ";
  bool first = true;
  auto sep = [&] { if (!first) g << ", \\\n     "; first = false; };
  // Each series its own colour and marker (filled markers first, then open ones), so that
  // overlapping lines stay distinguishable in print; a series that repeats an earlier one point for
  // point is drawn dashed with open markers on top of it.
  static const int kFilled[] = {7, 5, 9, 11, 13, 15};
  static const int kOpen[] = {6, 4, 8, 10, 12, 14};
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const Series& s = spec.series[i];
    std::string d = "$d" + std::to_string(i);
    const int lc = s.color > 0 ? s.color : static_cast<int>(i) + 1;
    const bool hidden = hides_an_earlier_series(spec, i);
    const size_t m = i % 6;
    const int pt = hidden || (i / 6) % 2 == 1 ? kOpen[m] : kFilled[m];
    const std::string line = " lw 2 lc " + std::to_string(lc) + (hidden || s.dashed ? " dt 2" : "");
    const std::string marker = " pt " + std::to_string(pt) + (hidden ? " ps 1.8" : " ps 1.2");
    const std::string title = " title " + gnuplot_string(s.title) + " noenhanced";
    switch (s.style) {
      case Style::Lines: sep(); g << d << " using 1:2 with lines" << line << title; break;
      case Style::LinesPoints: sep(); g << d << " using 1:2 with linespoints" << line << marker << title; break;
      case Style::Points: sep(); g << d << " using 1:2 with points lc " << lc << marker << title; break;
      case Style::ErrorBars: sep(); g << d << " using 1:2:3 with yerrorlines" << line << marker << title; break;
      case Style::Band:
        sep(); g << d << " using 1:($2-$3):($2+$3) with filledcurves fs transparent solid 0.2 noborder lc " << lc << " notitle";
        sep(); g << d << " using 1:2 with linespoints" << line << marker << title;
        break;
      case Style::Bars: sep(); g << d << " using 1:2 with boxes lc " << lc << title; break;
    }
  }
  // Reference lines: grey, each its own dash pattern.
  static const char* kRefDash[] = {"2", "4", "5", "3"};
  static const char* kRefGrey[] = {"gray30", "gray50", "gray40", "gray60"};
  for (size_t r = 0; r < spec.refs.size(); ++r) {
    sep();
    g << spec.refs[r].expr << " with lines dt " << kRefDash[r % 4] << " lw 2 lc rgb '" << kRefGrey[r % 4] << "' title "
      << gnuplot_string(spec.refs[r].title) << " noenhanced";
  }
  g << "\n";
  return g.str();
}

void render_plot(const PlotSpec& spec) {
  namespace fs = std::filesystem;
  if (spec.output.empty()) throw std::runtime_error("plot: no output path");
  std::string script = gnuplot_script(spec);
  struct stat st {};
  if (::stat(spec.output.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw std::runtime_error("plot: output '" + spec.output + "' exists and is not a regular file");
  fs::path out(spec.output);
  if (out.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    if (ec) throw std::runtime_error("plot: cannot create the folder of '" + spec.output + "': " + ec.message());
  }
  const std::string gp = spec.output + ".gp";
  write_file_atomic(gp, script);
  if (!gnuplot_available())
    throw std::runtime_error("gnuplot is not installed: cannot draw '" + spec.output + "' (script kept at " + gp + ")");
  ::unlink(spec.output.c_str());
  // gnuplot runs the script file directly: no shell sees any path (a quote in a file name cannot
  // become a command). Its stdout and stderr go to an anonymous temp file, read back below.
  std::FILE* err_file = std::tmpfile();
  if (!err_file) throw std::runtime_error(std::string("plot: cannot create a temp file: ") + std::strerror(errno));
  struct Closer { std::FILE* f; ~Closer() { std::fclose(f); } } closer{err_file};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fileno(err_file), 1);
  posix_spawn_file_actions_adddup2(&fa, fileno(err_file), 2);
  std::string arg = script_path_arg(gp);
  char* argv[] = {const_cast<char*>("gnuplot"), arg.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "gnuplot", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error(std::string("plot: cannot start gnuplot: ") + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  std::string err;
  std::rewind(err_file);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, err_file)) > 0 && err.size() < (1 << 16);) err.append(buf, n);
  std::error_code ec;
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && fs::is_regular_file(spec.output, ec) &&
            fs::file_size(spec.output, ec) > 0 && err.find("error") == std::string::npos;
  if (!ok)
    throw std::runtime_error("gnuplot failed on '" + spec.output + "' (script " + gp + "): " +
                             (err.empty() ? (WIFSIGNALED(status) ? "killed by a signal" : "no image written") : printable(err, ' ')));
}

}  // namespace ssmlab::plot
