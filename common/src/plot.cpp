// plot.cpp — PlotSpec → gnuplot script → PNG (see plot.h).
#include "ssmlab/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

// A relative script path as "./path", so a name starting with '-' is not read as an option.
std::string script_path_arg(const std::string& p) { return p.empty() || p[0] == '/' ? p : "./" + p; }
}  // namespace

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

std::string gnuplot_script(const PlotSpec& spec) {
  if (spec.series.empty()) throw std::runtime_error("plot '" + spec.output + "': no series to draw");
  std::ostringstream g;
  g << "# ssmlab plot (written by ssmlab::plot::render_plot); run: gnuplot <this file>\n";
  g << "set terminal pngcairo size " << spec.width << "," << spec.height << " enhanced font 'Sans,12'\n";
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
  if (spec.logy) g << "set logscale y\nset format y '10^{%L}'\n";
  bool bars = false;
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const Series& s = spec.series[i];
    if (s.x.size() != s.y.size()) throw std::runtime_error("plot '" + spec.output + "': series '" + printable(s.title) + "' has " + std::to_string(s.x.size()) + " x but " + std::to_string(s.y.size()) + " y values");
    bool need_err = s.style == Style::ErrorBars || s.style == Style::Band;
    if (need_err && s.err.size() != s.y.size()) throw std::runtime_error("plot '" + spec.output + "': series '" + printable(s.title) + "' needs one error value per point");
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
      for (size_t k = 0; k < spec.xtic_labels.size(); ++k) g << (k ? ", " : "") << gnuplot_string(spec.xtic_labels[k]) << " " << k;
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
      case Style::Lines: sep(); g << d << " using 1:2 with lines lw 2 lc " << lc << " title " << gnuplot_string(s.title) << " noenhanced"; break;
      case Style::LinesPoints: sep(); g << d << " using 1:2 with linespoints lw 2 pt 7 lc " << lc << " title " << gnuplot_string(s.title) << " noenhanced"; break;
      case Style::Points: sep(); g << d << " using 1:2 with points pt 7 lc " << lc << " title " << gnuplot_string(s.title) << " noenhanced"; break;
      case Style::ErrorBars: sep(); g << d << " using 1:2:3 with yerrorlines lw 2 pt 7 lc " << lc << " title " << gnuplot_string(s.title) << " noenhanced"; break;
      case Style::Band:
        sep(); g << d << " using 1:($2-$3):($2+$3) with filledcurves fs transparent solid 0.2 noborder lc " << lc << " notitle";
        sep(); g << d << " using 1:2 with linespoints lw 2 pt 7 lc " << lc << " title " << gnuplot_string(s.title) << " noenhanced";
        break;
      case Style::Bars: sep(); g << d << " using 1:2 with boxes lc " << lc << " title " << gnuplot_string(s.title) << " noenhanced"; break;
    }
  }
  for (size_t r = 0; r < spec.refs.size(); ++r) {
    sep();
    g << spec.refs[r].expr << " with lines dt 2 lw 2 lc rgb 'gray40' title " << gnuplot_string(spec.refs[r].title) << " noenhanced";
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
