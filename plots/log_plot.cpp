// log_plot.cpp — see log_plot.h.
#include "plots/log_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "ssmlab/checks.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/safe_io.h"
#include "ssmlab/stats.h"

namespace ssmlab::plot {

namespace {
using Json = nlohmann::json;

std::string text(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string num_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// The value at `path`, or at "metrics.<path>" when the record has nothing at `path`.
const Json* field(const Json& r, const std::string& path) {
  if (const Json* v = checks::lookup(r, path)) return v;
  return path.rfind("metrics.", 0) == 0 ? nullptr : checks::lookup(r, "metrics." + path);
}

const Json* number_at(const Json& r, const std::string& path) {
  const Json* v = field(r, path);
  return v && v->is_number() ? v : nullptr;
}

// The last component of a dotted path ("metrics.N" -> "N").
std::string tail(const std::string& path) { return path.substr(path.rfind('.') + 1); }

struct Filter {
  std::string path, op, value;
  double number = 0;
};

Filter parse_filter(const std::string& w) {
  const auto at = w.find_first_of("!<>=");
  if (at == std::string::npos || at == 0)
    throw std::runtime_error("--where expects PATH OP VALUE, OP one of = != < <= > >= (got '" + printable(w) + "')");
  Filter f;
  f.path = w.substr(0, at);
  for (const char* op : {"!=", "<=", ">=", "=", "<", ">"})
    if (w.compare(at, std::string(op).size(), op) == 0) {
      f.op = op;
      break;
    }
  if (f.op.empty()) throw std::runtime_error("--where '" + printable(w) + "': '!' must be followed by '='");
  f.value = w.substr(at + f.op.size());
  if (f.op != "=" && f.op != "!=") {
    size_t used = 0;
    try {
      f.number = std::stod(f.value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != f.value.size())
      throw std::runtime_error("--where '" + printable(w) + "': " + f.op + " compares numbers, and '" + printable(f.value) +
                               "' is not one");
  }
  return f;
}

bool passes(const Json& r, const std::vector<Filter>& filters) {
  for (const auto& f : filters) {
    const Json* v = field(r, f.path);
    if (f.op == "=" || f.op == "!=") {
      if ((v && text(*v) == f.value) != (f.op == "=")) return false;
      continue;
    }
    if (!v || !v->is_number()) return false;
    const double x = v->get<double>();
    const bool ok = (f.op == "<" && x < f.number) || (f.op == "<=" && x <= f.number) || (f.op == ">" && x > f.number) ||
                    (f.op == ">=" && x >= f.number);
    if (!ok) return false;
  }
  return true;
}

// Records of q.experiment passing q.where; `kind` = the subset of q.record (every kind when empty).
struct Selection {
  std::vector<Json> all, kind;
};
Selection select(const LogQuery& q) {
  std::vector<Filter> filters;
  for (const auto& w : q.where) filters.push_back(parse_filter(w));
  Selection s;
  for (const auto& f : q.logs)
    for (auto& l : read_jsonl(f))
      if (l.value.is_object() && l.value.value("experiment", std::string()) == q.experiment && passes(l.value, filters)) {
        if (q.record.empty() || l.value.value("record", std::string("result")) == q.record) s.kind.push_back(l.value);
        s.all.push_back(std::move(l.value));
      }
  if (s.kind.empty())
    throw EmptySelection("plot: no records of experiment '" + q.experiment + "'" +
                         (q.record.empty() ? std::string() : " (record " + q.record + ")") + " match in the given logs");
  return s;
}

// {max:PATH} and {min:PATH} in a title, from the records.
std::string expand_title(std::string title, const std::vector<Json>& recs) {
  for (const std::string kind : {"max", "min"}) {
    for (size_t at; (at = title.find("{" + kind + ":")) != std::string::npos;) {
      const size_t end = title.find('}', at);
      if (end == std::string::npos) throw std::runtime_error("plot: title '" + title + "': '{" + kind + ":' without '}'");
      const std::string path = title.substr(at + kind.size() + 2, end - at - kind.size() - 2);
      double v = NAN;
      for (const auto& r : recs)
        if (const Json* x = number_at(r, path))
          v = std::isnan(v) ? x->get<double>() : kind == "max" ? std::max(v, x->get<double>()) : std::min(v, x->get<double>());
      title.replace(at, end - at + 1, std::isnan(v) ? std::string("?") : num_text(v));
    }
  }
  return title;
}

struct Point {
  double y, err;
};

// The series key of a record: its group_by value ("" without group_by, "?" when absent).
std::string group_of(const LogQuery& q, const Json& r) {
  if (q.group_by.empty()) return std::string();
  const Json* g = field(r, q.group_by);
  return g ? text(*g) : std::string("?");
}

// group -> newest run_id (timestamps are ISO-8601, so string order is time order).
std::map<std::string, std::string> latest_runs(const LogQuery& q, const std::vector<Json>& recs) {
  std::map<std::string, std::pair<std::string, std::string>> latest;
  for (auto& r : recs) {
    auto g = group_of(q, r);
    auto ts = r.value("timestamp", std::string());
    if (!latest.count(g) || ts > latest[g].first) latest[g] = {ts, r.value("run_id", std::string())};
  }
  std::map<std::string, std::string> out;
  for (auto& [g, tr] : latest) out[g] = tr.second;
  return out;
}

// The records latest_only draws: those of the newest run of their series.
std::vector<Json> drawn_records(const LogQuery& q, const std::vector<Json>& recs) {
  if (!q.latest_only) return recs;
  const auto latest = latest_runs(q, recs);
  std::vector<Json> out;
  for (auto& r : recs)
    if (r.value("run_id", std::string()) == latest.at(group_of(q, r))) out.push_back(r);
  return out;
}

// The series of one figure from its records.
void add_series(const LogQuery& q, const std::vector<Style>& styles, const std::vector<Json>& recs, PlotSpec& spec) {
  if (q.y.empty()) throw std::runtime_error("plot: no y path given");
  if (!q.err.empty() && q.err.size() != q.y.size()) throw std::runtime_error("plot: give one error path per y path");
  if (!(q.ema > 0 && q.ema <= 1)) throw std::runtime_error("plot: --ema must be in (0, 1] (got " + num_text(q.ema) + ")");
  if (q.aggregate != "none" && q.aggregate != "mean_std" && q.aggregate != "mean_ci95")
    throw std::runtime_error("plot: --aggregate must be none, mean_std or mean_ci95 (got '" + q.aggregate + "')");
  const auto latest = latest_runs(q, recs);
  // q.order first, in its order; other values after, in `values`' order (stable)
  auto ordered = [&](std::vector<std::string> values) {
    auto rank = [&](const std::string& v) { return std::find(q.order.begin(), q.order.end(), v) - q.order.begin(); };
    std::stable_sort(values.begin(), values.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
    return values;
  };
  std::vector<std::string> categories;  // x_labels: x text in first-seen order
  if (q.x_labels) {
    for (auto& r : recs)
      if (const Json* x = field(r, q.x))
        if (std::find(categories.begin(), categories.end(), text(*x)) == categories.end()) categories.push_back(text(*x));
    categories = ordered(categories);
  }
  auto x_of = [&](const Json& r) -> std::optional<double> {
    const Json* x = field(r, q.x);
    if (!x) return std::nullopt;
    if (!q.x_labels) return x->is_number() ? std::optional<double>(x->get<double>()) : std::nullopt;
    return static_cast<double>(std::find(categories.begin(), categories.end(), text(*x)) - categories.begin());
  };
  size_t seq = 0;
  for (size_t yi = 0; yi < q.y.size(); ++yi) {
    // group -> x -> band key -> point; without band_over every record is its own key (in log order)
    std::map<std::string, std::map<double, std::map<std::string, Point>>> groups;
    for (auto& r : recs) {
      auto g = group_of(q, r);
      if (q.latest_only && r.value("run_id", std::string()) != latest.at(g)) continue;
      const Json* y = number_at(r, q.y[yi]);
      if (!y) continue;
      const auto x = x_of(r);
      if (!x) continue;
      double e = 0;
      if (!q.err.empty())
        if (const Json* ev = number_at(r, q.err[yi])) e = ev->get<double>();
      std::string key;
      if (q.band_over.empty()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%020zu", seq++);
        key = buf;
      } else {
        const Json* b = field(r, q.band_over);
        key = b ? text(*b) : "?";
      }
      groups[g][*x][key] = {y->get<double>(), e};
    }
    if (groups.empty())
      throw std::runtime_error("plot: records of '" + q.experiment + "' have no numeric " + q.x + " and " + q.y[yi]);
    if (q.complete_bands && !q.band_over.empty()) {
      std::set<std::string> every;
      std::map<std::string, std::set<std::string>> have;
      for (auto& [g, pts] : groups)
        for (auto& [x, keys] : pts)
          for (auto& [k, p] : keys) every.insert(k), have[g].insert(k);
      std::string missing;
      for (auto& [g, keys] : have)
        for (auto& k : every)
          if (!keys.count(k)) missing += " " + printable(g) + "/" + tail(q.band_over) + " " + printable(k);
      if (!missing.empty())
        throw std::runtime_error("--complete-bands: missing runs:" + missing + " (" + std::to_string(every.size()) + " values of " +
                                 q.band_over + " in the selection)");
    }
    std::vector<std::string> names;
    for (auto& [g, pts] : groups) names.push_back(g);
    for (const auto& g : ordered(names)) {
      const auto& pts = groups[g];
      const Style style = yi < styles.size() ? styles[yi] : styles.front();
      std::string base = yi < q.y_titles.size() ? q.y_titles[yi] : q.y[yi];
      Series s;
      s.title = q.group_by.empty() ? base : (q.y.size() > 1 ? base + ", " : std::string()) + q.group_label + g;
      s.style = style;
      Series lo{s.title + " min / max", {}, {}, {}, Style::Lines}, hi{"", {}, {}, {}, Style::Lines};
      for (auto& [x, keyed] : pts) {
        std::vector<double> v;
        for (auto& [k, p] : keyed) v.push_back(p.y);
        const Point& last = keyed.rbegin()->second;
        s.x.push_back(x);
        if (q.aggregate == "none" || v.size() == 1) {
          s.y.push_back(last.y);
          s.err.push_back(last.err);
        } else {
          auto sm = stats::summarize(v);
          s.y.push_back(sm.mean);
          s.err.push_back(q.aggregate == "mean_std" ? sm.std : sm.ci95);
        }
        lo.x.push_back(x), lo.y.push_back(*std::min_element(v.begin(), v.end()));
        hi.x.push_back(x), hi.y.push_back(*std::max_element(v.begin(), v.end()));
      }
      if (q.ema < 1) s.y = ema(s.y, q.ema);
      if (q.minmax && q.aggregate != "none") {
        // one colour per series: the aggregate solid, its min and max dashed
        s.title += q.aggregate == "mean_std" ? " mean ± std" : " mean ± 95% CI";
        s.color = lo.color = hi.color = static_cast<int>(spec.series.size() / 3) + 1;
        lo.dashed = hi.dashed = true;
        spec.series.push_back(std::move(s));
        spec.series.push_back(std::move(lo));
        spec.series.push_back(std::move(hi));
      } else {
        spec.series.push_back(std::move(s));
      }
    }
  }
  if (q.x_labels) spec.xtic_labels = categories;
  if (!q.flat_x.empty()) {
    double at = 0;
    try {
      at = std::stod(q.flat_x);
    } catch (const std::exception&) {
      throw std::runtime_error("plot: --flat-x must be a number (got '" + printable(q.flat_x) + "')");
    }
    auto flat = [&](const Series& s) {
      return !s.x.empty() && std::all_of(s.x.begin(), s.x.end(), [&](double v) { return v == at; });
    };
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& s : spec.series)
      if (!flat(s))
        for (double v : s.x) lo = std::min(lo, v), hi = std::max(hi, v);
    if (lo > hi) lo = hi = at;
    for (auto& s : spec.series)
      if (flat(s)) {
        s.title += " (no " + tail(q.x) + ")";
        s.x = {lo, hi};
        s.y = {s.y.back(), s.y.back()};
        s.err = {s.err.back(), s.err.back()};
        s.style = Style::Lines;
      }
  }
}

std::string with_suffix(const std::string& output, const std::string& suffix) {
  const std::string ext = ".png";
  if (output.size() >= ext.size() && output.compare(output.size() - ext.size(), ext.size(), ext) == 0)
    return output.substr(0, output.size() - ext.size()) + suffix + ext;
  return output + suffix;
}
}  // namespace

Style parse_style(const std::string& name) {
  if (name == "lines") return Style::Lines;
  if (name == "linespoints") return Style::LinesPoints;
  if (name == "points") return Style::Points;
  if (name == "errorbars") return Style::ErrorBars;
  if (name == "band") return Style::Band;
  if (name == "bars") return Style::Bars;
  throw std::runtime_error("plot: unknown style '" + printable(name) + "' (lines|linespoints|points|errorbars|band|bars)");
}

std::vector<double> ema(const std::vector<double>& y, double alpha) {
  std::vector<double> out;
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) out.push_back(s = i == 0 ? y[i] : alpha * y[i] + (1 - alpha) * s);
  return out;
}

std::vector<PlotSpec> make_figures(const Figure& f) {
  const Selection sel = select(f.q);
  std::vector<Style> styles;
  for (const auto& s : f.y_styles) styles.push_back(parse_style(s));
  if (!styles.empty() && styles.size() != f.q.y.size()) throw std::runtime_error("plot: give one y style per y path");
  if (styles.empty()) styles.push_back(parse_style(f.style));
  PlotSpec base = f.plot;
  for (size_t i = 0; i < f.ref_from.size(); ++i) {
    double sum = 0;
    int n = 0;
    for (const auto& r : sel.all)
      if (const Json* v = number_at(r, f.ref_from[i])) sum += v->get<double>(), ++n;
    if (n > 0) base.refs.push_back({num_text(sum / n), i < f.ref_from_titles.size() ? f.ref_from_titles[i] : f.ref_from[i]});
  }
  // split_by: one figure per value (std::map: in text order)
  std::map<std::string, std::vector<Json>> parts;
  if (f.split_by.empty()) {
    parts[""] = sel.kind;
  } else {
    for (const auto& r : sel.kind)
      if (const Json* v = field(r, f.split_by)) parts[text(*v)].push_back(r);
    if (parts.empty()) throw EmptySelection("plot: no record of '" + f.q.experiment + "' has " + f.split_by);
  }
  std::vector<PlotSpec> out;
  for (const auto& [value, recs] : parts) {
    PlotSpec spec = base;
    spec.title = expand_title(spec.title, drawn_records(f.q, recs));
    if (!f.split_by.empty()) {
      spec.title += ", " + value;
      spec.output = with_suffix(spec.output, "_" + safe_file_name(value));
    }
    add_series(f.q, styles, recs, spec);
    out.push_back(std::move(spec));
  }
  return out;
}

void add_series_from_logs(const LogQuery& q, Style style, PlotSpec& spec) {
  add_series(q, {style}, select(q).kind, spec);
}

}  // namespace ssmlab::plot
