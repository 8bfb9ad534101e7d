#include "log_plot.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "ssmlab/checks.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/stats.h"

namespace ssmlab::plot {

namespace {
std::string text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

bool matches(const nlohmann::json& r, const std::vector<std::string>& where) {
  for (const auto& w : where) {
    auto eq = w.find('=');
    if (eq == std::string::npos) throw std::runtime_error("--where expects PATH=VALUE (got '" + w + "')");
    const nlohmann::json* v = checks::lookup(r, w.substr(0, eq));
    if (!v || text(*v) != w.substr(eq + 1)) return false;
  }
  return true;
}
}  // namespace

void add_series_from_logs(const LogQuery& q, Style style, PlotSpec& spec) {
  if (q.y.empty()) throw std::runtime_error("plot: no y path given");
  if (!q.err.empty() && q.err.size() != q.y.size()) throw std::runtime_error("plot: give one error path per y path");
  std::vector<nlohmann::json> recs;
  for (const auto& f : q.logs)
    for (auto& l : read_jsonl(f))
      if (l.value.is_object() && l.value.value("experiment", std::string()) == q.experiment &&
          (q.record.empty() || l.value.value("record", std::string("result")) == q.record) && matches(l.value, q.where))
        recs.push_back(l.value);
  if (recs.empty())
    throw std::runtime_error("plot: no records of experiment '" + q.experiment + "' match in the given logs");
  // group -> latest run id (timestamps are ISO-8601, so string order is time order)
  std::map<std::string, std::pair<std::string, std::string>> latest;
  auto group_of = [&](const nlohmann::json& r) {
    if (q.group_by.empty()) return std::string();
    const nlohmann::json* g = checks::lookup(r, q.group_by);
    return g ? text(*g) : std::string("?");
  };
  for (auto& r : recs) {
    auto g = group_of(r);
    auto ts = r.value("timestamp", std::string());
    if (!latest.count(g) || ts > latest[g].first) latest[g] = {ts, r.value("run_id", std::string())};
  }
  for (size_t yi = 0; yi < q.y.size(); ++yi) {
    std::map<std::string, std::map<double, std::vector<std::pair<double, double>>>> groups;  // g -> x -> (y, err)
    for (auto& r : recs) {
      auto g = group_of(r);
      if (q.latest_only && r.value("run_id", std::string()) != latest[g].second) continue;
      const nlohmann::json* x = checks::lookup(r, q.x);
      const nlohmann::json* y = checks::lookup(r, q.y[yi]);
      if (!x || !y || !x->is_number() || !y->is_number()) continue;
      double e = 0;
      if (!q.err.empty()) {
        const nlohmann::json* ev = checks::lookup(r, q.err[yi]);
        if (ev && ev->is_number()) e = ev->get<double>();
      }
      groups[g][x->get<double>()].push_back({y->get<double>(), e});
    }
    if (groups.empty())
      throw std::runtime_error("plot: records of '" + q.experiment + "' have no numeric " + q.x + " and " + q.y[yi]);
    for (auto& [g, pts] : groups) {
      Series s;
      std::string base = yi < q.y_titles.size() ? q.y_titles[yi] : q.y[yi];
      s.title = q.group_by.empty() ? base : (q.y.size() > 1 ? base + ", " : std::string()) + g;
      s.style = style;
      for (auto& [x, ys] : pts) {
        std::vector<double> v;
        for (auto& p : ys) v.push_back(p.first);
        s.x.push_back(x);
        if (q.aggregate == "none" || v.size() == 1) {
          s.y.push_back(ys.back().first);
          s.err.push_back(ys.back().second);
        } else if (q.aggregate == "mean_std" || q.aggregate == "mean_ci95") {
          auto sm = stats::summarize(v);
          s.y.push_back(sm.mean);
          s.err.push_back(q.aggregate == "mean_std" ? sm.std : sm.ci95);
        } else {
          throw std::runtime_error("plot: --aggregate must be none, mean_std or mean_ci95 (got '" + q.aggregate + "')");
        }
      }
      spec.series.push_back(std::move(s));
    }
  }
}

}  // namespace ssmlab::plot
